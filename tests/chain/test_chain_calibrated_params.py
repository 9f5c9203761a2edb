"""Parameters written by the margin methodology deploy on the contracts as they are: a crash path
of a book under them runs identically on titanoboa and on the model (set-up and every action)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contracts_py.chains import make_chain
from methodology.calibration import Settings, calibrate, write_params
from methodology.series import align, daily_csv, load_series
from protocol.constants import WAD
from protocol.params import load_params
from protocol.scenarios import default_params
from simulator.config import StudyConfig
from simulator.on_chain import replay_path


def test_calibrated_parameters_run_on_the_contracts(market_data: Path, tmp_path: Path) -> None:
    btc, eth = align(tuple(load_series(daily_csv(market_data, s), s) for s in ("BTC", "ETH")))
    cut = slice(len(btc) - 400, len(btc))
    series = {
        m: type(s)(s.name, s.times_s[cut], s.closes[cut], s.volumes[cut], s.bar_s, s.source)
        for m, s in ((0, btc), (1, eth))
    }
    settings = Settings(lookback_s=200 * 86_400, floor_lookback_s=300 * 86_400, mc_paths=1_000, refit_bars=100)
    calibration = calibrate(default_params(), series, settings)
    path = write_params(tmp_path / "params.toml", calibration.params)
    params = load_params(path)
    assert params == calibration.params
    for market in params.markets:
        assert market.oi_cap_lower_wad == 0 < market.oi_cap_upper_wad
        assert market.initial_margin_fraction_wad > WAD // 20  # crypto margins are well above 5 %
    config = StudyConfig().override(
        {
            "protocol.params": str(path),
            "protocol.markets": [0, 1],
            "price.model": "bridge",
            "price.shock": float(np.log(0.6)),
            "price.feeds": {"ETH/USD": {"spot": 3_000.0, "sigma": 1.2}},
            "run.accounts": 30,
            "run.steps": 40,
            "run.paths": 1,
        }
    )
    assert config.params.markets == params.markets
    with make_chain("boa") as chain:
        report = replay_path(config, 0, chain)
    assert report.action_mismatches == ()
    assert report.state_differences == ()
    assert report.equal
    assert report.result.metrics["liquidations"] > 0

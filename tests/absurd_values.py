"""The absurd option values found from outside (issue 20: each hung ``ocd run`` or ended in an
internal error; issue 21: each was accepted by ``ocd config send``), as (section, option,
value): every one must be refused with one line, at start-up and when sent."""

ISSUES_ABSURD = [
    *[("run", "error_pause", v) for v in ("nan", "inf", "-1", "1e308")],
    ("tcs", "heartbeat_timeout", "-5"),
    ("run_shot", "exposure_time", "-1"), ("run_shot", "exposure_time", "1e308"),
    ("run_shot", "x_binning", "-99999999999999999999999"),
    ("run", "status_interval", "1e-300"),
    ("general", "log_level", "ERROR"),
    *[("run", "tick_interval", v) for v in ("nan", "0", "-1", "1e308", "1e-300")],
    *[("bus", "reconnect_interval", v) for v in ("nan", "0", "-1", "1e308")],
    *[("bus", "heartbeat_interval", v) for v in ("nan", "0", "-1", "1e308")],
    *[("sim_tcs", "heartbeat_interval", v) for v in ("nan", "0", "1e308")],
    *[("dates", "mock_speed", v) for v in ("nan", "0", "-1", "1e308", "1e-300")],
    ("dates", "mock_time", "9999-12-31T23:59:59"), ("dates", "mock_time", "nan"),
]

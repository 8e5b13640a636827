"""The telescope side of a shot: one interface to the TCS subsystems, two implementations.

``SimulatedSubsystems`` runs in-process (commands take simulated time on OCD's clock);
``GatewayClient`` talks to a separate TCS gateway process over ZeroMQ (``ocd sim_tcs`` serves
the same protocol, and a real HET gateway could implement it: see doc/tcs-gateway.md).
"""

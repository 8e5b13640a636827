"""A simulated TCS: subsystems that take simulated time (:mod:`.subsystems`), the event stream a
TCS publishes (:mod:`.events`) and the weather its guiders see (:mod:`.weather`).
"""

"""What a monitor makes of events, as pure functions: text lines (:mod:`.lines`) and the shots
of a night (:mod:`.tally`).
"""

"""The shell around the pure core, shared by the processes of :mod:`ocd.app`: the engine that
carries out the orchestrator's actions and the settings that build the core's, one service life
cycle, child processes, the clock a process runs on, the progress bar."""

import os
if os.environ.get("S27_PROF"):
    import cProfile, atexit
    _p = cProfile.Profile(); _p.enable()
    atexit.register(lambda: (_p.disable(), _p.dump_stats(os.environ["S27_PROF"])))

"""Demo data for ``liveinsight demo``: the demo sites and what their traffic is made of
(:mod:`.catalog`), a month of generated traffic written through the real storage path
(:mod:`.generate`, its rows assembled by :mod:`.rows`), the live trickle of visits sent to a
running server through the real collector (:mod:`.live`), and the command's terminal side
(:mod:`.cli`)."""

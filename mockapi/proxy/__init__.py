"""Keep the mock honest: proxy a real dispatcher, capture a scenario from it, report drift.

:mod:`~mockapi.proxy.app` forwards a client's traffic to an upstream dispatcher and journals
it; :mod:`~mockapi.proxy.capture` turns that journal into a scenario; :mod:`~mockapi.proxy.drift`
probes an upstream and a mockapi with the same read-only requests and compares the answers.
"""

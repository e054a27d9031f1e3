"""The per-process `Recent` map: entries expire, keys can be forgotten."""

from __future__ import annotations

from vistapass.platform.cache.local import Recent


def test_an_entry_is_served_until_it_expires() -> None:
    now = [100.0]
    recent: Recent[str, int] = Recent(ttl=3.0, clock=lambda: now[0])
    assert recent.put("a", 1) == 1
    now[0] += 2.9
    assert recent.get("a") == 1
    now[0] += 0.1
    assert recent.get("a") is None


def test_forget_one_all_or_matching() -> None:
    recent: Recent[tuple[str, str], int] = Recent(ttl=60)
    for key in (("db1", "a"), ("db2", "a"), ("db1", "b")):
        recent.put(key, 1)
    recent.forget_matching(lambda key: key[1] == "a")
    assert recent.get(("db1", "a")) is None and recent.get(("db2", "a")) is None
    assert recent.get(("db1", "b")) == 1
    recent.forget(("db1", "b"))
    assert recent.get(("db1", "b")) is None
    recent.put(("x", "y"), 2)
    recent.forget()
    assert recent.get(("x", "y")) is None


def test_it_stays_bounded() -> None:
    recent: Recent[int, int] = Recent(ttl=60, max_entries=10)
    for number in range(25):
        recent.put(number, number)
    assert recent.get(24) == 24
    assert sum(recent.get(n) is not None for n in range(25)) <= 10

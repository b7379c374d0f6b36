"""A client address's network for "a key used from a new network": /24, /48, keyed."""

from liveinsight.security.networks import network_key, network_of


def test_networks_are_the_24_or_the_48_prefix() -> None:
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("::ffff:203.0.113.77") == "203.0.113.0/24"  # IPv4-mapped
    assert network_of("2001:db8:1:2:3::9") == "2001:db8:1::/48"
    assert network_of("unknown") is None and network_of("") is None


def test_the_kept_value_is_keyed_by_secret_and_api_key() -> None:
    a = network_key(b"s" * 32, 1, "203.0.113.0/24")
    assert len(a) == 32 and "203" not in a
    assert a == network_key(b"s" * 32, 1, "203.0.113.0/24")
    assert a != network_key(b"s" * 32, 2, "203.0.113.0/24")
    assert a != network_key(b"t" * 32, 1, "203.0.113.0/24")

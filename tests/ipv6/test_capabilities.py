"""ipv6 capabilities: each feature probed by trying it, the kernel's own build
configuration (/proc/config.gz) as the independent oracle, the one-line
refusal of a command that cannot do without a feature."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ipv6._features import BY_NAME, FEATURES, KernelLacks, pretended_absent
from ipv6.capabilities import ABSENT, PRESENT, PRETEND_ENV, UNKNOWN, capabilities
from ipv6.kernelprobe import PROBES

# What the kernel's configuration must say for a feature to be there (any one
# option of a set, =y or =m: a module loads when first asked for).
CONFIG = {
    "ip_mroute": ["CONFIG_IP_MROUTE"],
    "ip6_mroute": ["CONFIG_IPV6_MROUTE"],
    "packet": ["CONFIG_PACKET"],
    "sit": ["CONFIG_IPV6_SIT"],
    "tun": ["CONFIG_TUN"],
    "xfrm_ah": ["CONFIG_INET6_AH"],
    "veth": ["CONFIG_VETH"],
    "bridge": ["CONFIG_BRIDGE"],
    "bridge_snooping": ["CONFIG_BRIDGE_IGMP_SNOOPING"],
    "statistic": ["CONFIG_NETFILTER_XT_MATCH_STATISTIC"],
    "lwtunnel_bpf": ["CONFIG_LWTUNNEL_BPF"],
}


def kernel_config() -> dict[str, str]:
    try:
        text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    except OSError:
        pytest.skip("this kernel does not publish its configuration (/proc/config.gz)")
    return dict(line.split("=", 1) for line in text.splitlines() if line.startswith("CONFIG_"))


def test_every_feature_has_a_probe_and_says_what_changes_without_it() -> None:
    assert PROBES.keys() == BY_NAME.keys()
    for feature in FEATURES:
        assert feature.config.startswith("CONFIG_") and feature.used_by and feature.without


def test_a_missing_feature_is_one_line_with_its_option_and_exit_7() -> None:
    error = KernelLacks("ip_mroute", "mcast route", "use --plane userspace (or auto)")
    assert error.exit_code == 7
    text = str(error)
    assert "CONFIG_IP_MROUTE" in text and "--plane userspace" in text and "\n" not in text


def test_a_test_may_pretend_a_feature_is_absent_but_names_it_right() -> None:
    assert pretended_absent(" ip_mroute, sit ,") == {"ip_mroute", "sit"}
    with pytest.raises(Exception, match="names no feature nope"):
        pretended_absent("nope")


@pytest.mark.needs_root
def test_the_probe_agrees_with_the_kernels_configuration() -> None:
    config = kernel_config()
    found = {f.name: f for f in capabilities(refresh=True)}
    for name, options in CONFIG.items():
        built = any(config.get(o) in ("y", "m") for o in options)
        state = found[name].state
        assert state != UNKNOWN, (name, found[name].how)
        assert (state == PRESENT) == built, (name, options, found[name].how)


@pytest.mark.needs_root
def test_the_command_prints_each_feature_and_follows_a_tests_request(tmp_path) -> None:
    env = {**os.environ, "NETSH_STATE_DIR": str(tmp_path), PRETEND_ENV: "tun"}
    done = subprocess.run([sys.executable, "-m", "ipv6", "capabilities", "--json"],
                          capture_output=True, text=True, env=env, check=False,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows.keys() == BY_NAME.keys()
    assert rows["tun"]["state"] == ABSENT and PRETEND_ENV in rows["tun"]["how"]
    assert rows["packet"]["state"] == PRESENT
    # What was found is kept for this namespace: the next command reads it.
    assert list(tmp_path.glob("capabilities-netns-*.json"))
    text = subprocess.run([sys.executable, "-m", "ipv6", "capabilities"], capture_output=True,
                          text=True, env=env, check=True, timeout=60).stdout  # fmt: skip
    assert "without it:" in text and "absent:" in text and "tun" in text.split("absent:")[1]


def test_without_privilege_it_says_what_it_could_not_try(tmp_path) -> None:
    """As a user without capabilities: probed where it can be (a user namespace of
    its own), unknown where it cannot, never a failure."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs setpriv (util-linux) and root to drop the capabilities")
    drop = [setpriv, "--bounding-set=-all", "--inh-caps=-all", "--"]
    env = {"NETSH_STATE_DIR": str(tmp_path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    done = subprocess.run([*drop, sys.executable, "-m", "ipv6", "capabilities", "--json"],
                          capture_output=True, text=True, env=env, check=False,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows.keys() == BY_NAME.keys()
    for row in rows.values():
        assert row["state"] in (PRESENT, ABSENT, UNKNOWN)
        if row["state"] == UNKNOWN:
            assert row["how"].startswith(("not tried", "the probe failed")), row

"""The pytest plugin, as a user's test suite meets it: test files written here
and run by pytest in a subprocess (pytester), their outcomes checked, and the
machine checked after them: every lab they built is gone, with what their
tests started, whether the tests passed, failed or were interrupted."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.needs_root

RUN = ["-p", "no:cacheprovider", "-p", "no:randomly"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a subprocess, the plugin found through its entry point."""
    return pytester.runpytest_subprocess(*RUN, *args)


def test_a_plain_test_gets_its_lab_and_the_lab_goes_even_when_the_test_fails(
    pytester: pytest.Pytester, nothing_left: object
) -> None:
    pytester.makepyfile(
        """
        import socket
        import pytest

        @pytest.mark.lab("two-hosts")
        def test_the_hosts_reach_each_other(lab):
            a, b = lab.host("a"), lab.host("b")
            assert (a.address(4), b.address(6)) == ("10.0.0.1", "2001:db8:0:1::2")
            done = a.run(["ping", "-c", "1", "-W", "5", b.address(4)])
            assert done.returncode == 0, done.stdout
            with b.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
                server.bind(("10.0.0.2", 7000))
                a.run(["sh", "-c", "echo hi | socat - UDP4:10.0.0.2:7000"], check=True)
                server.settimeout(5)
                assert server.recv(100) == b"hi\\n"

        @pytest.mark.lab("two-hosts")
        def test_that_fails(lab):
            lab.host("a").spawn(["sleep", "4711"])
            assert False, "on purpose"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: on purpose*"])


def test_a_trio_test_awaits_the_same_calls_and_measures_a_stream(
    pytester: pytest.Pytester, nothing_left: object
) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lab("two-hosts")
        async def test_stream_and_ping(lab):
            done = await lab.host("a").run(["ip", "-o", "addr", "show", "dev", "eth0"])
            assert "10.0.0.1/24" in done.stdout
            process = await lab.host("b").spawn(["sleep", "4711"])
            stream = await lab.stream("a", "b", count=200, rate=2000)
            assert (stream.sent, stream.received, stream.lost) == (200, 200, 0), str(stream)
            assert stream.network_lost == 0 and stream.first_after_join_ms is not None
            ping = await lab.mping("a", "b")
            assert ping.unicast.received == ping.multicast.received == 3, ping
            assert ping.exit_status == 0
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_failed_reach_says_what_the_network_did(
    pytester: pytest.Pytester, nothing_left: object
) -> None:
    pytester.makepyfile(
        """
        import pytest

        SERVER = "198.51.100.10"

        @pytest.mark.lab("nat64")
        def test_through_nat64(lab):
            gateway = lab.nat64(zone={"server.lab.example": SERVER})
            lab.host("s4").spawn(["socat", "TCP4-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hi"])
            lab.host("s4").wait_listening(80)
            answer = lab.host("h6").run(["dig", "+short", "AAAA", "server.lab.example",
                                         "@" + gateway.dns]).stdout.split()
            assert answer == [gateway.synthesized(SERVER)]
            lab.assert_reaches("h6", SERVER, 80, through=gateway)
            lab.assert_reaches("h6", SERVER, 81, through=gateway)

        @pytest.mark.lab("nat64")
        def test_a_private_address_under_the_well_known_prefix(lab):
            gateway = lab.nat64(prefix="64:ff9b::/96", dns64=False)
            lab.assert_reaches("h6", "10.1.2.3", 80, through=gateway)
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*h6 could not reach 198.51.100.10:81 through NAT64 (gw, 64:ff9b:1::c633:640a): "
        "refused (a RST, or an ICMP port unreachable); translator dropped nothing*",
        "*h6 could not reach 10.1.2.3:80 through NAT64 (gw, 64:ff9b::a01:203): refused by an "
        "ICMP 'administratively prohibited'; translator dropped 1 (destination_unmapped 1)*",
    ])  # fmt: skip


LAB_TEST = """
import pytest

@pytest.mark.lab("two-hosts")
def test_needs_a_lab(lab):
    pass
"""


def test_without_root_lab_tests_skip_with_one_reason_or_fail_when_asked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for this test"
    pytester.makepyfile(LAB_TEST)
    monkeypatch.delenv("CI", raising=False)
    unprivileged = [setpriv, "--bounding-set=-net_admin,-sys_admin", "--inh-caps=-all",
                    "--", sys.executable, "-m", "pytest", *RUN, "-rs"]  # fmt: skip
    skipped = pytester.run(*unprivileged)
    assert skipped.parseoutcomes() == {"skipped": 1}, skipped.stdout.str()
    skipped.stdout.fnmatch_lines(["*building a lab needs CAP_NET_ADMIN*run as root*"])
    asked = pytester.run(*unprivileged, "--lab-required")
    assert asked.parseoutcomes().get("errors") == 1, asked.stdout.str()
    asked.stdout.fnmatch_lines(["*this test needs a lab*run as root*"])
    monkeypatch.setenv("CI", "true")
    in_ci = pytester.run(*unprivileged)
    assert in_ci.parseoutcomes().get("errors") == 1, in_ci.stdout.str()


def test_a_lab_file_that_cannot_be_used_fails_its_test_with_the_files_error(
    pytester: pytest.Pytester, nothing_left: object
) -> None:
    pytester.makefile(".toml", broken='name = "x"\n[hosts.a]\n[[links]]\nname = "l"\n')
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lab("broken.toml")
        def test_broken(lab):
            pass

        def test_without_a_mark(lab):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*lab broken.toml: *broken.toml*", "*mark it @pytest.mark.lab*"])
    assert "Traceback" not in result.stdout.str()


def test_a_receiving_program_that_ends_before_it_joins_is_said_with_its_words(
    pytester: pytest.Pytester, nothing_left: object
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from ipv6 import LabError

        @pytest.mark.lab("two-hosts")
        def test_gone(lab):
            with pytest.raises(LabError) as failed:
                lab.stream("a", "b", program=["sh", "-c", "echo cannot bind >&2; exit 3"])
            assert str(failed.value) == (
                "sh in b ended (status 3) before it joined 239.1.2.3: cannot bind"
            )
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_lab_prefix_that_no_lab_name_can_have_fails_in_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lab("two-hosts")
        def test_prefixed(lab):
            pass
        """
    )
    monkeypatch.setenv("TOOLKIT_LAB_PREFIX", "9-bad")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TOOLKIT_LAB_PREFIX='9-bad': a lowercase letter*"])
    assert "Traceback" not in result.stdout.str()


def test_parallel_tests_on_one_lab_file_get_labs_of_their_own(
    pytester: pytest.Pytester, nothing_left: object, tmp_path: Path
) -> None:
    names = tmp_path / "names"
    names.mkdir()
    pytester.makepyfile(
        f"""
        import time
        import pytest

        @pytest.mark.lab("two-hosts")
        @pytest.mark.parametrize("n", range(4))
        def test_each(lab, n):
            (__import__("pathlib").Path({str(names)!r}) / lab.name).write_text(str(n))
            done = lab.host("a").run(["ping", "-c", "1", "-W", "5", "10.0.0.2"])
            assert done.returncode == 0
            time.sleep(0.5)  # time under test: the labs of two workers are up together
        """
    )
    run(pytester, "-n", "2").assert_outcomes(passed=4)
    assert len(os.listdir(names)) == 4  # four labs, four names


def test_an_interrupted_run_takes_its_lab_down(
    pytester: pytest.Pytester, nothing_left: object
) -> None:
    pytester.makepyfile(
        """
        import os, signal
        import pytest

        @pytest.mark.lab("two-hosts")
        def test_interrupted(lab):
            lab.host("a").spawn(["sleep", "4711"])
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()

"""Every row of the seeds' conflict table against the model (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from mcast._errors import KernelRefused, LimitReached, MembershipError
from mcast.membership._conflicts import ROWS, Row, error_for_kernel, replay
from mcast.membership._membership import Call, GroupKey, Memberships

KEY = GroupKey(ipaddress.ip_address("232.1.1.1"), 2)
SOURCE = ipaddress.ip_address("10.0.0.2")


@pytest.mark.parametrize("row", ROWS, ids=Row.title)
def test_each_row_is_refused_by_the_model_with_its_rule(row: Row) -> None:
    model = replay(row.before, KEY, SOURCE)
    before = dict(model.filters)
    with pytest.raises(row.error) as caught:
        model.apply(row.then, KEY, SOURCE if row.then.takes_source else None)
    assert model.filters == before, "a refused call must change nothing"
    message = str(caught.value)
    assert "\n" not in message and caught.value.hint and caught.value.hint in message


@pytest.mark.parametrize("row", [r for r in ROWS if r.linux], ids=Row.title)
def test_each_linux_refusal_maps_back_to_the_rows_error(row: Row) -> None:
    import errno

    model = replay(row.before, KEY, SOURCE)
    assert row.linux is not None
    error = error_for_kernel(
        model,
        row.then,
        key=KEY,
        source=SOURCE if row.then.takes_source else None,
        code=getattr(errno, row.linux),
        option="setsockopt",
    )
    assert type(error) is row.error
    # Refused with another errno, the kernel had a reason of its own: its words, not the rule.
    other = error_for_kernel(
        model,
        row.then,
        key=KEY,
        source=SOURCE if row.then.takes_source else None,
        code=errno.EPERM,
        option="setsockopt",
    )
    assert type(other) is KernelRefused and "EPERM" in str(other)


def test_the_table_covers_the_seeds_rows() -> None:
    # 14 rows in the seeds; the "after a drop" row covers four calls here.
    assert len(ROWS) == 17
    titles = {r.title() for r in ROWS}
    assert "IP_ADD_MEMBERSHIP then IP_ADD_SOURCE_MEMBERSHIP" in titles
    assert "IP_BLOCK_SOURCE" in " ".join(titles)


def test_the_message_names_the_rule_and_the_right_call() -> None:
    model = replay((Call.JOIN, Call.BLOCK), KEY, SOURCE)
    with pytest.raises(MembershipError) as caught:
        model.apply(Call.JOIN_SOURCE, KEY, SOURCE)
    assert str(caught.value) == (
        "source 10.0.0.2 is blocked in any-source mode on group 232.1.1.1 on interface "
        "index 2: unblock it instead of adding it"
    )


def test_out_of_buffers_names_the_sysctl() -> None:
    import errno

    model = Memberships()
    error = error_for_kernel(
        model, Call.JOIN, key=KEY, source=None, code=errno.ENOBUFS, option="MCAST_JOIN_GROUP"
    )
    assert isinstance(error, LimitReached) and error.sysctl == "net.ipv4.igmp_max_memberships"


def test_a_refusal_the_rules_do_not_explain_keeps_the_kernels_words() -> None:
    import errno

    error = error_for_kernel(
        Memberships(), Call.JOIN, key=KEY, source=None, code=errno.ENODEV, option="MCAST_JOIN_GROUP"
    )
    assert isinstance(error, KernelRefused) and "ENODEV" in str(error)

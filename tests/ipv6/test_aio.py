import pytest
import trio

from ipv6 import lone_error


class Boom(Exception):
    pass


async def test_an_error_in_a_nursery_leaves_as_itself() -> None:
    async def fail() -> None:
        raise Boom("one")

    with pytest.raises(Boom, match="one"), lone_error():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail)
            await trio.sleep_forever()


async def test_an_error_in_the_body_of_a_nested_nursery_leaves_as_itself() -> None:
    with pytest.raises(Boom), lone_error():
        async with trio.open_nursery(), trio.open_nursery():
            raise Boom("body")


async def test_several_errors_stay_a_group() -> None:
    async def fail(n: int) -> None:
        raise Boom(str(n))

    with pytest.raises(BaseExceptionGroup) as caught, lone_error():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail, 1)
            nursery.start_soon(fail, 2)
    assert sorted(str(e) for e in caught.value.exceptions) == ["1", "2"]


def test_an_error_outside_a_group_passes_unchanged() -> None:
    with pytest.raises(Boom), lone_error():
        raise Boom("plain")

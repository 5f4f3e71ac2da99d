"""LiveHub: fan-out, channel isolation, drop-oldest back-pressure and thread safety."""

from __future__ import annotations

import random
import threading
import time

import pytest

from pitchtank.live.hub import LiveHub, Message


def _drain(subscription, timeout: float = 0.0) -> list[Message]:
    messages = []
    while (message := subscription.get(timeout)) is not None:
        messages.append(message)
    return messages


def test_fan_out_to_every_subscriber_of_a_channel_only():
    hub = LiveHub()
    audience = [hub.subscribe("session:1") for _ in range(100)]
    other = [hub.subscribe("session:2") for _ in range(3)]
    message = Message("leaderboard", 1, {"rows": [1, 2]})

    assert hub.publish_local("session:1", message) == 100

    assert all(_drain(sub) == [message] for sub in audience)
    assert all(sub.get(timeout=0) is None for sub in other)
    assert hub.subscriber_count("session:1") == 100
    assert hub.subscriber_count("session:2") == 3
    assert hub.subscriber_count() == 103


def test_publish_to_a_channel_without_subscribers_is_a_no_op():
    hub = LiveHub()
    assert hub.publish_local("session:9", Message("pitch", 1, {})) == 0
    assert hub.subscriber_count() == 0


def test_messages_arrive_in_publish_order():
    hub = LiveHub()
    with hub.subscribe("c") as sub:
        for version in range(10):
            hub.publish_local("c", Message("leaderboard", version, {}))
        assert [m.id for m in _drain(sub)] == list(range(10))


def test_slow_subscriber_loses_the_oldest_messages_not_the_newest():
    hub = LiveHub(queue_size=4)
    with hub.subscribe("c") as slow, hub.subscribe("c") as fast:
        seen_by_fast = []
        for version in range(10):
            hub.publish_local("c", Message("leaderboard", version, {}))
            seen_by_fast.extend(m.id for m in _drain(fast))

        assert [m.id for m in _drain(slow)] == [6, 7, 8, 9]
        assert slow.dropped == 6
        assert seen_by_fast == list(range(10))
        assert fast.dropped == 0


def test_publish_never_blocks_on_a_subscriber_that_never_reads():
    hub = LiveHub()
    stuck = hub.subscribe("c")
    done = threading.Event()

    def publish_many() -> None:
        for version in range(5_000):
            hub.publish_local("c", Message("leaderboard", version, {}))
        done.set()

    threading.Thread(target=publish_many, daemon=True).start()
    assert done.wait(timeout=5), "publisher blocked on a full subscriber queue"
    assert stuck.dropped == 5_000 - hub.queue_size
    assert stuck.get(timeout=0).id == 5_000 - hub.queue_size
    stuck.close()


def test_get_blocks_until_a_message_is_published():
    hub = LiveHub()
    message = Message("pitch", 3, {"pitch_id": 12})
    with hub.subscribe("c") as sub:
        timer = threading.Timer(0.05, hub.publish_local, args=("c", message))
        timer.start()
        started = time.monotonic()
        assert sub.get(timeout=5) == message
        assert time.monotonic() - started < 1
        timer.join()


def test_get_returns_none_after_the_timeout():
    hub = LiveHub()
    with hub.subscribe("c") as sub:
        started = time.monotonic()
        assert sub.get(timeout=0.05) is None
        assert 0.04 <= time.monotonic() - started < 1


def test_close_wakes_a_blocked_get_and_unsubscribes():
    hub = LiveHub()
    sub = hub.subscribe("c")
    threading.Timer(0.05, sub.close).start()
    started = time.monotonic()
    assert sub.get(timeout=5) is None
    assert time.monotonic() - started < 1
    assert sub.closed
    assert hub.subscriber_count() == 0
    hub.publish_local("c", Message("pitch", 1, {}))
    assert sub.get(timeout=0) is None
    sub.close()  # a second close is harmless


def test_context_manager_closes_the_subscription():
    hub = LiveHub()
    with hub.subscribe("c") as sub:
        assert hub.subscriber_count("c") == 1
    assert sub.closed
    assert hub.subscriber_count("c") == 0


def test_close_all_ends_every_subscription():
    hub = LiveHub()
    subs = [hub.subscribe(f"c{i % 3}") for i in range(9)]
    hub.close_all()
    assert all(sub.closed for sub in subs)
    assert hub.subscriber_count() == 0


def test_concurrent_subscribe_publish_and_close_leaves_no_subscriptions():
    hub = LiveHub(queue_size=8)
    channels = [f"session:{n}" for n in range(5)]
    errors: list[BaseException] = []
    stop_publishing = threading.Event()

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(200):
                with hub.subscribe(rng.choice(channels)) as sub:
                    sub.get(timeout=0)
        except BaseException as error:  # reported to the main thread below
            errors.append(error)

    def publish() -> None:
        version = 0
        while not stop_publishing.is_set():
            version += 1
            hub.publish_local(
                channels[version % len(channels)], Message("leaderboard", version, {})
            )

    publisher = threading.Thread(target=publish)
    workers = [threading.Thread(target=churn, args=(seed,)) for seed in range(32)]
    publisher.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    stop_publishing.set()
    publisher.join(timeout=5)

    assert not errors
    assert not any(worker.is_alive() for worker in workers)
    assert hub.subscriber_count() == 0
    assert all(hub.subscriber_count(channel) == 0 for channel in channels)


@pytest.mark.parametrize(
    ("event", "id"),
    [("", 1), ("leader\nboard", 1), ("x\r", 1), ("pitch", -1), ("pitch", True), ("pitch", "3")],
)
def test_message_rejects_values_that_would_break_the_stream(event, id):
    with pytest.raises(ValueError):
        Message(event, id, {})


def test_listeners_receive_their_channel_and_a_failing_one_stops_no_delivery(caplog):
    hub = LiveHub()
    heard: list[tuple[str, Message]] = []

    def broken(message: Message) -> None:
        raise RuntimeError("listener bug")

    hub.listen("auth:users", broken)
    hub.listen("auth:users", lambda message: heard.append(("first", message)))
    hub.listen("other", lambda message: heard.append(("other", message)))
    with hub.subscribe("auth:users") as sub:
        message = Message("forget", 0, {"users": [3]})
        assert hub.publish_local("auth:users", message) == 1  # subscriptions counted, not listeners
        assert heard == [("first", message)]
        assert sub.get(timeout=0) == message
    assert "a listener of auth:users failed" in caplog.text
    assert hub.subscriber_count() == 0  # listeners are not subscriptions


def test_hub_rejects_an_empty_queue_size():
    with pytest.raises(ValueError):
        LiveHub(queue_size=0)

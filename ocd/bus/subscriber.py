"""The receiving end of the bus: one SUB socket per kind of publisher (a *source*), each
connected to that source's URLs.

A socket per source tells where a frame came from, so a topic is accepted only from the
sources that may send it (:func:`ocd.core.sources.source_accepts`), whatever ``__origin`` it
claims; each socket is a CURVE client or not as ``[security]`` says for its source. Reading
takes one message from each source in turn, so a flood on one address cannot starve another.

Bad input never stops the owner's loop: every message goes through the one strict decoder
(:mod:`ocd.bus.envelope`), then the schema of a topic the owner acts on
(:class:`ocd.bus.validation.PayloadRules`); what fails is counted by kind, logged once per kind
and interval, and skipped. Sequence
numbers are tracked per origin so the owner can read how many events were lost (``stats``) and
learn about each gap as it happens (``last_check``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import zmq
import zmq.asyncio

from ocd.bus.addresses import Source
from ocd.bus.curve import BusSecurity, security_from_config
from ocd.bus.envelope import (
    Event,
    MalformedMessage,
    decode,
    decode_payload,
    decode_topic,
)
from ocd.bus.options import BusOptions, apply_options, bus_options, limit_message_size
from ocd.bus.ratelimit import RateLimitedLog
from ocd.bus.reconnect import Reconnector
from ocd.bus.sequence import OriginStats, SeqCheck, SeqKind, SequenceTracker
from ocd.bus.subscriptions import passes_whole_system
from ocd.bus.validation import PayloadRules
from ocd.config import Config
from ocd.core.sources import ANY, STEADY_SOURCES, TCS, source_accepts
from ocd.errors import OcdError

log = logging.getLogger("ocd.bus")

#: Longest single wait before checking the socket again (robustness, not pacing).
_MAX_WAIT = 1.0
#: Messages read in one go before yielding to the event loop (a flood of garbage must not
#: starve the other tasks).
_BATCH = 1000
#: Lost connections are looked for before each wait, and at least every this many messages.
_CHECK_EVERY = 1024
#: Topics whose verdict each source remembers (beyond, checked each time: a sender choosing
#: new topics cannot grow the table).
_VERDICTS = 4096
_NOBLOCK = int(zmq.NOBLOCK)


@dataclass
class SubscriberStats:
    """Counters the owner of a subscriber can read at any time."""

    received: int = 0     # valid events returned
    unsequenced: int = 0  # events without __seq/__origin (TCS, foreign publishers)
    reconnects: int = 0   # connections libzmq closed for good, connected again
    #: Messages dropped, by kind (:data:`ocd.bus.envelope.DROP_KINDS`).
    dropped: Counter[str] = field(default_factory=Counter)
    sequences: SequenceTracker = field(default_factory=SequenceTracker)

    @property
    def malformed(self) -> int:
        """Messages dropped, all kinds together."""
        return sum(self.dropped.values())

    @property
    def gaps(self) -> int:
        return self.sequences.gaps

    @property
    def lost(self) -> int:
        return self.sequences.lost

    @property
    def restarts(self) -> int:
        return self.sequences.restarts

    @property
    def origins(self) -> dict[str, OriginStats]:
        return self.sequences.origins

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.dropped.items()))
        return (f"{self.received} events ({self.unsequenced} without sequence numbers) from "
                f"{len(self.origins)} OCD origin(s); {self.malformed} dropped"
                + (f" ({kinds})" if kinds else "")
                + f", {self.gaps} gap(s), {self.lost} lost, {self.restarts} restart(s)"
                + (f", {self.reconnects} reconnection(s)" if self.reconnects else ""))

    def as_payload(self) -> dict[str, object]:
        """The counters as plain JSON (``ocd.main_loop.status``)."""
        return {"received": self.received, "dropped": dict(self.dropped),
                "gaps": self.gaps, "lost": self.lost, "restarts": self.restarts,
                "reconnects": self.reconnects}


def open_source(ctx: zmq.Context[Any], source: Source, options: BusOptions,
                security: BusSecurity, topics: Iterable[str] = ()) -> zmq.Socket[bytes]:
    """A plain (blocking) SUB socket connected to ``source``: the ``[bus]`` options, the size
    limit, CURVE as ``security`` says for that source, no back-off for the sources whose
    publishers come and go. The subscriber waits on its descriptor itself (cheaper than a
    future per wait, and it keeps serving libzmq's commands while nobody reads); the recorder
    reads it in a thread. Made by the context, so that ``ctx.destroy()`` closes it too."""
    sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB, socket_class=zmq.Socket)
    try:
        apply_options(sock, options)
        if source.name in STEADY_SOURCES:  # no back-off (libzmq copies it per connection)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 0)
        limit_message_size(sock, options)
        security.client(sock, tcs=source.name == TCS)
        for topic in topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        for url in source.urls:
            try:
                sock.connect(url)
            except zmq.ZMQError as exc:
                raise OcdError(f"cannot connect to {url}: {exc.strerror}") from None
    except BaseException:
        sock.close(linger=0)
        raise
    return sock


class _Input:
    """One SUB socket of a subscriber: its source, its socket and the compiled calls the
    receiving loop uses, and what it learnt of each topic it received (bounded memo): whether
    its source may send it, and the topic as text (None when it is not valid text)."""

    __slots__ = ("source", "sock", "recv", "reconnector", "topics")

    def __init__(self, source: Source, sock: zmq.Socket[bytes], reconnector: Reconnector
                 ) -> None:
        self.source = source
        self.sock = sock
        # the compiled recv, without pyzmq's Python wrapper: this loop is the subscriber's
        # speed limit (bench/bus_throughput.py); frames are received without copying, so that
        # their ``more`` flag is read without a getsockopt
        self.recv = super(zmq.Socket, sock).recv
        self.reconnector = reconnector
        self.topics: dict[bytes, tuple[bool, str | None]] = {}

    def learn(self, raw_topic: bytes) -> tuple[bool, str | None]:
        """Whether this source may send ``raw_topic``, and the topic as text (an undecodable
        topic passes here: the decoder drops it with its own reason)."""
        try:
            topic: str | None = decode_topic(raw_topic)
        except MalformedMessage:
            return True, None
        assert topic is not None
        known = (source_accepts(self.source.name, topic), topic)
        if len(self.topics) < _VERDICTS:
            self.topics[raw_topic] = known
        return known


class Subscriber:
    """Receive the topics starting with any of ``topics`` from ``sources`` (or, for a monitor
    given addresses by hand, from ``urls``: one source that may send anything).

    ``topics`` are prefixes; ``""`` means everything. ``rules`` are the schemas of the topics
    the owner acts on (None: strict decoding only, as for a monitor). ``log_gaps`` logs gaps
    and restarts (a monitor that prints them itself turns it off). ``security`` makes each
    socket a CURVE client when ``[security]`` says so for its source. The addresses of
    publishers that come and go or restart (the commanders', the shots', the main loop's) are
    retried every ``reconnect_interval`` without back-off, so that a command bound a moment
    ago is heard within about that long.
    """

    def __init__(self, ctx: zmq.asyncio.Context, urls: Iterable[str] = (),
                 topics: Iterable[str] = ("",), *, sources: Iterable[Source] | None = None,
                 options: BusOptions | None = None, log_gaps: bool = True,
                 rules: PayloadRules | None = None, security: BusSecurity | None = None
                 ) -> None:
        self.options = options or BusOptions()
        if sources is None:
            sources = [Source(ANY, tuple(dict.fromkeys(urls)))]
        self.sources = [source for source in sources if source.urls]
        self.urls = list(dict.fromkeys(url for source in self.sources for url in source.urls))
        self.topics: list[str] = []
        self._complete: dict[str, bool] = {}
        self.stats = SubscriberStats()
        #: The sequence check of the event last returned (None for unsequenced events).
        self.last_check: SeqCheck | None = None
        self.log_gaps = log_gaps
        self.rules = rules
        self.security = security or BusSecurity()
        self._limited = RateLimitedLog(log, self.options.log_interval)
        self._inputs: list[_Input] = []
        self._next = 0
        try:
            for source in self.sources:
                self._inputs.append(self._open(ctx, source))
        except BaseException:
            self.close()
            raise
        for topic in topics:
            self.subscribe(topic)
        self._readable = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._until_check = _CHECK_EVERY
        self._watch()

    def _open(self, ctx: zmq.asyncio.Context, source: Source) -> _Input:
        sock = open_source(ctx, source, self.options, self.security)
        reconnector = Reconnector(ctx, sock, source.urls, self.options.reconnect_interval)
        return _Input(source, sock, reconnector)

    @classmethod
    def from_config(cls, ctx: zmq.asyncio.Context, cfg: Config, sources: Iterable[Source],
                    topics: Iterable[str], *, log_gaps: bool = True,
                    rules: PayloadRules | None = None) -> Subscriber:
        """A subscriber with the ``[bus]`` options and ``[security]`` of ``cfg``."""
        return cls(ctx, topics=topics, sources=sources, options=bus_options(cfg),
                   log_gaps=log_gaps, rules=rules, security=security_from_config(cfg))

    # -- filters ------------------------------------------------------------------------------
    def subscribe(self, topic: str) -> None:
        """Add a topic prefix (no effect if already there)."""
        if topic not in self.topics:
            self._complete.clear()
            self.topics.append(topic)
            for source in self._inputs:
                source.sock.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))

    def _learn_whole_system(self, topic: str) -> bool:
        """Whether the filters pass every topic of ``topic``'s system (e.g. all of ``ocd.``):
        only then is a jump in a publisher's sequence a loss rather than a filtered-out event.
        Remembered per topic in ``_complete``, which the receiving loop reads first (a bounded
        memo: beyond it, computed each time)."""
        known = passes_whole_system(self.topics, topic.partition(".")[0])
        if len(self._complete) < _VERDICTS:
            self._complete[topic] = known
        return known

    def covers(self, topic: str) -> bool:
        """Whether ``topic`` passes the current filters."""
        return any(topic.startswith(prefix) for prefix in self.topics)

    # -- receiving ----------------------------------------------------------------------------
    def recv_nowait(self) -> Event | None:
        """The next well-formed event if one is waiting, else None. Sources take turns, one
        message each."""
        inputs = self._inputs
        if not inputs:
            return None
        idle = 0  # sources found empty in a row
        for _ in range(_BATCH):
            self._until_check -= 1
            if not self._until_check:
                self.reconnect_lost()
            source = inputs[self._next]
            self._next = (self._next + 1) % len(inputs)
            try:
                first = source.recv(_NOBLOCK, False)
            except zmq.Again:
                idle += 1
                if idle >= len(inputs):
                    return None
                continue
            idle = 0
            raw_topic = first.bytes
            if not first.more:  # one frame only: dropped, with the decoder's reason
                self._accept_frames([raw_topic])
                continue
            second = source.recv(0, False)  # the rest of a message is there already
            raw_payload = second.bytes
            if second.more:  # more than two frames: skip the rest, dropped as such
                self._drop_long(source, raw_topic, raw_payload)
                continue
            known = source.topics.get(raw_topic) or source.learn(raw_topic)
            if not known[0]:
                self._drop_foreign(source, raw_topic)
                continue
            topic = known[1]
            if topic is None:  # not text: dropped, with the decoder's reason
                self._accept_frames([raw_topic, raw_payload])
                continue
            event = self._accept(topic, raw_payload)
            if event is not None:
                return event
        return None

    def _drop_long(self, source: _Input, raw_topic: bytes, raw_payload: bytes) -> None:
        """A message of more than two frames: the rest read off the socket, dropped with the
        decoder's reason (kept out of ``recv_nowait``, which only well-formed messages should
        slow)."""
        frames: list[bytes] = [raw_topic, raw_payload]
        more = True
        while more:
            part = source.recv(0, False)
            more = part.more
            if len(frames) < 3:
                frames.append(part.bytes)
        self._accept_frames(frames)

    def _drop_foreign(self, source: _Input, topic: bytes) -> None:
        """A topic its source may not send: dropped, counted, logged now and then."""
        self.stats.dropped["source"] += 1
        shown = topic[:100].decode("utf-8", "replace")
        self._limited.warning("drop:source", f"dropped {shown} from a {source.source.name} "
                              f"address: that source may not send it "
                              f"({self.stats.dropped['source']} such drops so far)")

    async def recv(self, timeout: float | None = None) -> Event:
        """The next well-formed event; TimeoutError if none within ``timeout`` seconds."""
        event = self.recv_nowait()  # fast path: no waiting, no event loop round trip
        if event is not None:
            return event
        self._watch()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            self.reconnect_lost()
            self._readable.clear()
            # Reading EVENTS lets libzmq process pending commands and re-arms the descriptor,
            # so a message arriving after this check wakes the reader callback.
            if not any(cast(int, source.sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN
                       for source in self._inputs):
                if deadline is None:
                    wait = _MAX_WAIT
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError(f"no event within {timeout:g} s")
                    wait = min(remaining, _MAX_WAIT)
                alarm = loop.call_later(wait, self._readable.set)
                try:
                    await self._readable.wait()
                finally:
                    alarm.cancel()
            event = self.recv_nowait()
            if event is not None:
                return event

    def reconnect_lost(self) -> None:
        """Connect again to the publishers libzmq dropped for good (see
        :mod:`ocd.bus.reconnect`)."""
        self._until_check = _CHECK_EVERY
        for source in self._inputs:
            self.stats.reconnects += source.reconnector.check()

    def _watch(self) -> None:
        """Watch the socket's descriptor from the running event loop (from the first call
        made inside one)."""
        if self._loop is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for source in self._inputs:
            loop.add_reader(source.sock.fileno(), self._on_readable, source)
        self._loop = loop

    def _on_readable(self, source: _Input) -> None:
        if source.sock.closed:
            return
        # Let libzmq process its commands now, even if nobody is receiving: after a publisher
        # restarts, this is what re-sends our subscriptions to it.
        source.sock.getsockopt(zmq.EVENTS)
        self._readable.set()

    def _accept_frames(self, frames: list[bytes]) -> None:
        """A message that is not two frames with a text topic: counted and dropped."""
        try:
            decode(frames, self.options.max_message_bytes)
        except MalformedMessage as exc:
            self._dropped(exc)

    def _dropped(self, exc: MalformedMessage) -> None:
        self.stats.dropped[exc.kind] += 1
        self._limited.warning(f"drop:{exc.kind}", f"dropped a message on topic "
                              f"{exc.topic or '?'} ({self.stats.dropped[exc.kind]} "
                              f"{exc.kind} drops so far): {exc.reason[:300]}")

    def _accept(self, topic: str, raw_payload: bytes) -> Event | None:
        """The payload of a message on ``topic`` -> a valid event (strict decoding, then the
        topic's schema if the owner acts on it), or a counted drop."""
        try:
            payload = decode_payload(topic, raw_payload, self.options.max_message_bytes)
            if self.rules is not None:
                self.rules.check(topic, payload)
        except MalformedMessage as exc:
            self._dropped(exc)
            return None
        event = Event(topic, payload)
        stats = self.stats
        stats.received += 1
        origin, seq = payload.get("__origin"), payload.get("__seq")
        if type(seq) is not int or not isinstance(origin, str):
            stats.unsequenced += 1
            self.last_check = None
            return event
        complete = self._complete.get(topic)
        if complete is None:
            complete = self._learn_whole_system(topic)
        check = stats.sequences.observe(origin, seq, complete)
        self.last_check = check
        if check.kind is SeqKind.IN_ORDER or not self.log_gaps:
            return event
        if check.kind is SeqKind.GAP:
            self._limited.warning("gap", f"lost {check.missing} event(s) from {origin[:100]} "
                                  f"before {event.topic[:100]} (expected seq {check.expected}, "
                                  f"got {seq}; {self.stats.lost} lost so far)")
        elif check.kind is SeqKind.RESTART:
            self._limited.log(logging.INFO, "restart", f"{origin[:100]} restarted its sequence "
                              f"(got {seq} after {(check.expected or 1) - 1}; "
                              f"{self.stats.restarts} restart(s) so far)")
        return event

    # -- life cycle ---------------------------------------------------------------------------
    def close(self) -> None:
        for source in self._inputs:
            if source.sock.closed:
                continue
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(source.sock.fileno())
            source.reconnector.close()
            source.sock.close(linger=0)
        self._loop = None

    @property
    def sockets(self) -> list[zmq.Socket[bytes]]:
        """The SUB sockets, one per source (for tests and diagnostics)."""
        return [source.sock for source in self._inputs]

    @property
    def closed(self) -> bool:
        return all(source.sock.closed for source in self._inputs)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

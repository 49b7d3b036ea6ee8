"""Asterisk `queue_log` -> one phone contact per queued call.

Each line is `time|callid|queue|agent|event|data1|data2|...`; `time` is unix seconds (the
file backend) or a `YYYY-MM-DD HH:MM:SS[.ffffff]` date in the PBX's zone (realtime
backends export it so). Per call (`callid`), in file order:

| event | data | becomes |
|---|---|---|
| ENTERQUEUE | data2 = caller id | the contact begins: customer, ts |
| CONNECT | data1 = holdtime | answered by `agent` after holdtime |
| COMPLETEAGENT / COMPLETECALLER | data1 = holdtime, data2 = calltime | ends an answered call |
| TRANSFER / BLINDTRANSFER / ATTENDEDTRANSFER | data3 = holdtime, data4 = calltime | ends an answered call |
| ABANDON, EXITWITHTIMEOUT, EXITEMPTY | data3 = waittime | ends unanswered: abandoned |
| EXITWITHKEY | data4 = waittime | ends unanswered: abandoned |
| RINGNOANSWER, RINGCANCELED, DID, ... | | progress, no effect |

One call -> one event `asterisk:<callid>`: `wait_seconds` = the holdtime (answered) or the
waittime (unanswered), summed over the queues the call went through; `handle_seconds` = the
calltime; `abandoned` = never answered; `agent` = who answered. Agent and system lines
(callid `NONE`: ADDMEMBER, PAUSE, QUEUESTART, ...) are not calls and are skipped.
Malformed lines (too few fields, bad time, non-numeric times) and unknown events are
unmapped with their line number. A call whose ENTERQUEUE is not in the file cannot name
its customer and is unmapped; a call with no ending yet is reported open and not stored —
importing the grown file later stores it (the id is the callid, so nothing doubles).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from touchpoints.connectors.common import Translation, event_id, from_epoch, iso

CONNECTOR = "asterisk"
ANSWERED_END = {
    # event -> (index of holdtime, index of calltime) within the data fields
    "COMPLETEAGENT": (0, 1),
    "COMPLETECALLER": (0, 1),
    "TRANSFER": (2, 3),
    "BLINDTRANSFER": (2, 3),
    "ATTENDEDTRANSFER": (2, 3),
}
UNANSWERED_END = {"ABANDON": 2, "EXITWITHTIMEOUT": 2, "EXITEMPTY": 2, "EXITWITHKEY": 3}
PROGRESS = {"RINGNOANSWER", "RINGCANCELED", "DID", "INFO", "ENTERQUEUE", "CONNECT", "REQUEUE"}
NOT_CALLS = {
    "ADDMEMBER",
    "REMOVEMEMBER",
    "PAUSE",
    "UNPAUSE",
    "PAUSEALL",
    "UNPAUSEALL",
    "AGENTLOGIN",
    "AGENTLOGOFF",
    "AGENTCALLBACKLOGIN",
    "AGENTCALLBACKLOGOFF",
    "QUEUESTART",
    "CONFIGRELOAD",
    "PENALTY",
}


@dataclass
class Call:
    callid: str
    first_line: int
    caller: str | None = None
    entered: datetime | None = None
    agent: str | None = None
    wait: float = 0.0
    handle: float = 0.0
    answered: bool = False
    ended: bool = False
    lines: list[str] = field(default_factory=list)  # kept while no ENTERQUEUE was seen


@dataclass
class QueueLogResult:
    """Contacts of calls that ended, what could not be mapped, and the calls still open."""

    translation: Translation = field(default_factory=Translation)
    open_calls: list[str] = field(default_factory=list)
    calls: int = 0
    skipped_lines: int = 0


def parse_queue_log(
    lines: Iterable[str], touchpoint: str = "phone", timezone: str = "UTC"
) -> QueueLogResult:
    """Read queue_log lines (1-based line numbers in unmapped parts) into contacts."""
    zone = ZoneInfo(timezone)
    result = QueueLogResult()
    out = result.translation
    calls: dict[str, Call] = {}
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        fields = text.split("|")
        if len(fields) < 5:
            out.skip(
                text,
                f"{len(fields)} fields; a queue_log line has at least 5 (time|callid|queue|agent|event)",
                number,
            )
            continue
        stamp, callid, queue, agent, event = (f.strip() for f in fields[:5])
        data = [f.strip() for f in fields[5:]]
        moment = _time(stamp, zone)
        if moment is None:
            out.skip(
                text, f"time {stamp!r} is neither unix seconds nor YYYY-MM-DD HH:MM:SS", number
            )
            continue
        if event in NOT_CALLS or callid in ("", "NONE"):
            result.skipped_lines += 1
            continue
        if event not in PROGRESS and event not in ANSWERED_END and event not in UNANSWERED_END:
            out.skip(text, f"event {event!r} is not mapped", number)
            continue
        call = calls.get(callid)
        if call is None:
            call = calls[callid] = Call(callid, number)
        problem = _apply(call, event, moment, agent, data)
        if problem:
            out.skip(text, problem, number)
            continue
        if call.entered is None:  # only an orphan's lines are ever quarantined
            call.lines.append(f"{number}: {text}")
        elif call.lines:
            call.lines.clear()
    for call in calls.values():
        if not call.ended:
            if call.caller is not None or call.entered is not None:
                result.open_calls.append(call.callid)
            else:
                out.skip(
                    "\n".join(call.lines),
                    f"call {call.callid} has no ENTERQUEUE and no ending in this file",
                    call.first_line,
                )
            continue
        result.calls += 1
        if call.entered is None or not call.caller:
            out.skip(
                "\n".join(call.lines),
                f"call {call.callid} has no ENTERQUEUE with a caller id in this file (rotated log?)",
                call.first_line,
            )
            continue
        contact: dict[str, Any] = {
            "event_id": event_id(CONNECTOR, call.callid),
            "customer_id": call.caller,
            "touchpoint": touchpoint,
            "ts": iso(call.entered),
            "action": "interaction",
            "wait_seconds": call.wait,
            "abandoned": not call.answered,
        }
        if call.answered:
            contact["handle_seconds"] = call.handle
            if call.agent:
                contact["agent"] = call.agent
        out.events.append(contact)
    return result


def _apply(call: Call, event: str, moment: datetime, agent: str, data: list[str]) -> str | None:
    """Fold one line into its call; a reason when the line's numbers are unusable."""
    if event == "ENTERQUEUE":
        if call.entered is None:
            call.entered = moment
            call.caller = _field(data, 1) or None
        call.ended = False  # entering another queue reopens the call
        return None
    if event == "CONNECT":
        hold = _seconds(data, 0)
        if hold is None:
            return "CONNECT without a numeric holdtime (data1)"
        call.answered, call.agent = True, agent if agent and agent != "NONE" else call.agent
        return None
    if event in ANSWERED_END:
        hold_at, talk_at = ANSWERED_END[event]
        hold, talk = _seconds(data, hold_at), _seconds(data, talk_at)
        if hold is None or talk is None:
            return f"{event} without numeric holdtime (data{hold_at + 1}) and calltime (data{talk_at + 1})"
        call.wait += hold
        call.handle += talk
        call.answered, call.ended = True, True
        if agent and agent != "NONE":
            call.agent = agent
        return None
    if event in UNANSWERED_END:
        waited = _seconds(data, UNANSWERED_END[event])
        if waited is None:
            return f"{event} without a numeric waittime (data{UNANSWERED_END[event] + 1})"
        call.wait += waited
        call.ended = True
        return None
    return None  # progress lines (RINGNOANSWER, ...) change nothing


def _field(data: list[str], index: int) -> str:
    return data[index] if index < len(data) else ""


def _seconds(data: list[str], index: int) -> float | None:
    text = _field(data, index)
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < 10**7 else None


def _time(stamp: str, zone: ZoneInfo) -> datetime | None:
    if stamp.replace(".", "", 1).isdigit():
        return from_epoch(stamp)
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC) if 2000 <= moment.year < 2100 else None

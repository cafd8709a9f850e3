"""The last contact with a customer, restated in one place (issue #14): for the customer or for our own people, in each locale.

The customer reads only the day and the channel; our own people (the worklist and its call
script, escalations, approval requests, lock notices) read whom, the result, the collector's
note and the excuse (issue #13). The words are the message catalogue's.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from huikuan.collection import execution
from huikuan.documents import last_contact
from huikuan.documents.last_contact import restate
from huikuan.reports import worklist
from models.enums import Channel, ContactResult, Excuse, Locale
from models.ledger import ContactLog

DAY = dt.date(2026, 11, 10)
NOTE = "下周五付C-2 INTERNAL-7Q3Z"


def contact(
    channel=Channel.phone, result=ContactResult.promised, *, person: str | None = "陈", note: str | None = NOTE, excuse: Excuse | None = Excuse.tuo
) -> ContactLog:
    return ContactLog(contacted_on=DAY, channel=channel, result=result, person=person, note=note, excuse=excuse)


def test_our_own_people_read_the_whole_contact_in_their_locale():
    full = contact()
    assert restate(full, "en", internal=True) == f"call on 10 November 2026 with 陈: promised to pay ({NOTE}), excuse 拖"
    assert restate(full, "zh_CN", internal=True) == f"2026年11月10日 电话 陈：承诺付款（{NOTE}），借口：拖"
    bare = contact(Channel.email, ContactResult.unreachable, person=None, note=None, excuse=None)
    assert restate(bare, "en", internal=True) == "email on 10 November 2026: not reached"
    assert restate(bare, "zh_CN", internal=True) == "2026年11月10日 邮件，未能联系上"
    assert restate(full, Locale.zh_CN, internal=True) == restate(full, "zh_CN", internal=True)  # a customer's locale as stored


def test_the_customer_reads_only_the_day_and_the_channel():
    expected = {
        Channel.phone: ("our call of 10 November 2026", "2026年11月10日 电话联系"),
        Channel.email: ("our email of 10 November 2026", "2026年11月10日 邮件联系"),
        Channel.visit: ("our visit of 10 November 2026", "2026年11月10日 上门拜访"),
    }
    for channel, (english, chinese) in expected.items():
        for result in ContactResult:
            entry = contact(channel, result)
            assert (restate(entry, "en", internal=False), restate(entry, "zh_CN", internal=False)) == (english, chinese)


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("result", list(ContactResult))
def test_every_channel_and_result_has_its_words_in_each_locale(channel, result):
    entry = contact(channel, result, person=None, note=None, excuse=None)
    chinese = restate(entry, "zh_CN", internal=True)
    assert not re.search(r"[A-Za-z]", chinese), chinese  # the catalogue translates every word
    english = restate(entry, "en", internal=True)
    assert english.startswith(f"{last_contact.CHANNELS[channel.value]} on 10 November 2026: ")
    assert english != restate(entry, "en", internal=False) and chinese != restate(entry, "zh_CN", internal=False)


def test_the_documents_and_the_worklist_restate_with_the_one_function():
    assert execution.restate is restate and worklist.restate is restate
    assert not hasattr(execution, "_restate") and not hasattr(worklist, "restate_zh")

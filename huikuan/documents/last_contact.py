"""The last contact with a customer, restated: one wording, for the customer or for our own people (PROCESS.md §5).

What a customer reads (its emails and letters) quotes only the day and channel of the
last contact: ``our call of 10 November 2026``, ``2026年11月10日 电话联系``. The result is
ours to tell, what the customer agreed is the promise (quoted on its own, with its
amount and date), and the note is the collector's: a bounced address, an excuse, a
judgement (issue #13).

What our own people read (the worklist and its call script, escalations, approval
requests, lock notices) restates it whole: the day, the channel, whom the collector
spoke to, the result, the collector's note and the excuse heard:
``call on 10 November 2026 with 陈: promised to pay (下周五付C-2), excuse 拖``,
``2026年11月10日 电话 陈：承诺付款（下周五付C-2），借口：拖``.

The words are the message catalogue's (``huikuan.documents.i18n``), the day as the
documents write it (``huikuan.documents.render.format_date``). Pure: the contact's
fields in, the text out.
"""

from __future__ import annotations

from huikuan.documents import i18n
from huikuan.documents.render import format_date
from models.ledger import ContactLog
from models.texts import N_, Text

# The customer's reading: the day and the channel, nothing else.
TO_CUSTOMER = {"phone": N_("our call of {day}"), "email": N_("our email of {day}"), "visit": N_("our visit of {day}")}
# Our own people's reading, word by word.
CHANNELS = {"phone": N_("call"), "email": N_("email"), "visit": N_("visit")}
RESULTS = {
    "reached": N_("reached"),
    "unreachable": N_("not reached"),
    "promised": N_("promised to pay"),
    "disputed": N_("raised a dispute"),
    "refused": N_("refused to pay"),
}


def restate(entry: ContactLog, locale: str, *, internal: bool) -> str:
    """``entry`` as the reader reads it in ``locale`` (zh_CN or en; any other reads English).

    ``internal``: for our own people, with whom the collector spoke to, the result, the
    collector's note and the excuse; else for the customer, only the day and the channel.
    """
    locale = str(locale) if str(locale) in i18n.LOCALES else i18n.SOURCE_LOCALE
    day = format_date(entry.contacted_on, locale)
    channel = entry.channel.value
    if not internal:
        return i18n.render(Text(TO_CUSTOMER[channel], day=day), locale)
    words = {"channel": Text(CHANNELS[channel]), "day": day, "result": Text(RESULTS[entry.result.value])}
    said = (
        Text(N_("{channel} on {day} with {person}: {result}"), person=entry.person, **words)
        if entry.person
        else Text(N_("{channel} on {day}: {result}"), **words)
    )
    if entry.note:
        said = Text(N_("{said} ({note})"), said=said, note=entry.note)
    if entry.excuse is not None:
        said = Text(N_("{said}, excuse {excuse}"), said=said, excuse=entry.excuse.label)
    return i18n.render(said, locale)

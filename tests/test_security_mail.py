"""Mail security (issue #12, part 5 and part of 6).

SMTP: the server's certificate and host name are checked (STARTTLS and implicit
TLS), a company CA can be trusted with ``smtp.ca_file``, the password is never
sent over an unencrypted connection unless ``allow_plain_login`` says so, and
it never shows in a repr or a dump. One-time codes: after a code's message is
delivered, the ledger's copy no longer holds the code; every ``.eml`` file is
readable by its owner only.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import smtplib
import socket
import ssl
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from huikuan.ledger.company import EXAMPLE, CompanyFileError, SmtpSettings, parse_company
from huikuan.outbox.mail import OutboxFolder, SmtpServer, build_message, dispatch
from models.ledger import OutboxMessage
from tests.conftest import SmtpCapture
from tests.ledger_files import import_ledger

COMPANY = parse_company(EXAMPLE)
PASSWORD = "s3cret-mail-pa55"


# -- a test CA and a server certificate signed by it ------------------------------------


def _certificates(folder: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA of its own and a certificate for ``names`` (DNS names or IP addresses)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "huikuan test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


class LoginCapture(SmtpCapture):
    """An SMTP server's handler that also keeps the logins it was given (and accepts them)."""

    def __init__(self) -> None:
        super().__init__()
        self.logins: list[tuple[str, str]] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    """``serve(mode, names)``: a running aiosmtpd server on 127.0.0.1 -> (port, capture, ca.pem).

    ``mode`` is "starttls" (STARTTLS required before mail and login), "ssl" (implicit TLS)
    or "plain" (no TLS at all, login accepted anyway).
    """
    from aiosmtpd.controller import Controller

    controllers = []

    def start(mode: str, names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> tuple[int, LoginCapture, Path]:
        ca, cert, key = _certificates(tmp_path, list(names))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert, key)
        capture, port = LoginCapture(), _free_port()
        options: dict = {"authenticator": capture.authenticate}
        if mode == "starttls":
            options |= {"tls_context": server_context, "require_starttls": True}
        elif mode == "ssl":
            options |= {"ssl_context": server_context, "auth_require_tls": False}  # aiosmtpd counts only STARTTLS as TLS for AUTH
        else:
            options |= {"auth_require_tls": False}
        controller = Controller(capture, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return port, capture, ca

    yield start
    for controller in controllers:
        controller.stop()


def _message(key: str = "C1:follow_up:2026-11-23:email", **fields) -> OutboxMessage:
    values = {"key": key, "to_address": "wangwei@hx.example.cn", "to_name": "王伟", "subject": "付款提醒", "text": "请付款。\n"}
    return OutboxMessage(**values | fields)


def _settings(port: int, **fields) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, username="ar", password=PASSWORD, **fields)


# -- the certificate is checked ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_an_untrusted_certificate_is_refused_before_the_password_is_sent(serve, mode):
    port, capture, _ = serve(mode)
    transport = SmtpServer(_settings(port, **{mode: True}), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        transport.send(build_message(_message(), COMPANY))
    assert capture.logins == [] and capture.messages == []


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_the_company_ca_file_makes_the_certificate_trusted(serve, mode):
    port, capture, ca = serve(mode)
    transport = SmtpServer(_settings(port, ca_file=ca, **{mode: True}), timeout=10)
    transport.send(build_message(_message(), COMPANY))
    assert capture.logins == [("ar", PASSWORD)] and len(capture.messages) == 1


def test_the_host_name_is_checked_against_the_certificate(serve):
    port, capture, ca = serve("starttls", names=("mail.example.cn",))  # a trusted certificate, for another host
    transport = SmtpServer(_settings(port, ca_file=ca, starttls=True), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch|Hostname mismatch"):
        transport.send(build_message(_message(), COMPANY))
    assert capture.logins == [] and capture.messages == []


def test_an_untrusted_certificate_fails_the_message_in_dispatch_and_it_stays_queued(serve, sqlite_engine):
    port, capture, _ = serve("starttls")
    with Session(sqlite_engine) as session, session.begin():
        session.add(_message())
    result = dispatch(sessionmaker(sqlite_engine), COMPANY, SmtpServer(_settings(port, starttls=True), timeout=10))
    assert (result.sent, result.failed) == (0, 1) and "CERTIFICATE_VERIFY_FAILED" in result.errors[0]
    with Session(sqlite_engine) as session:
        assert session.scalar(select(OutboxMessage)).sent_at is None


def test_the_ca_file_is_read_from_the_company_file(tmp_path):
    company = parse_company(
        EXAMPLE + f"smtp: {{host: smtp.example.cn, port: 587, username: ar, password: x, starttls: true, ca_file: {tmp_path / 'ca.pem'}}}\n"
    )
    assert company.smtp.ca_file == tmp_path / "ca.pem"


def test_a_missing_ca_file_is_an_error_naming_the_setting(serve):
    port, capture, ca = serve("starttls")
    transport = SmtpServer(_settings(port, ca_file=ca.with_name("nowhere.pem"), starttls=True), timeout=10)
    with pytest.raises(FileNotFoundError, match="smtp.ca_file"):
        transport.send(build_message(_message(), COMPANY))


# -- no password over an unencrypted connection -----------------------------------------


def test_a_login_without_tls_is_refused_unless_the_company_file_allows_it():
    with pytest.raises(CompanyFileError, match="allow_plain_login"):
        parse_company(EXAMPLE + "smtp: {host: relay.local, port: 25, username: ar, password: x}\n")
    allowed = parse_company(EXAMPLE + "smtp: {host: relay.local, port: 25, username: ar, password: x, allow_plain_login: true}\n")
    assert allowed.smtp.allow_plain_login
    # Without a login, a relay without TLS needs nothing (nothing secret is sent).
    assert parse_company(EXAMPLE + "smtp: {host: relay.local, port: 25}\n").smtp.username is None


def test_the_smtp_server_does_not_log_in_without_tls(serve):
    port, capture, _ = serve("plain")
    refused = SmtpSettings.model_construct(host="127.0.0.1", port=port, username="ar", password=None)  # as if unvalidated
    with pytest.raises(Exception, match="allow_plain_login"):
        SmtpServer(refused, timeout=10).send(build_message(_message(), COMPANY))
    assert capture.logins == [] and capture.messages == []
    SmtpServer(_settings(port, allow_plain_login=True), timeout=10).send(build_message(_message(), COMPANY))
    assert capture.logins == [("ar", PASSWORD)] and len(capture.messages) == 1
    # STARTTLS that the server does not offer is an error, not a login in the clear.
    with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
        SmtpServer(_settings(port, starttls=True), timeout=10).send(build_message(_message(), COMPANY))
    assert len(capture.logins) == 1 and len(capture.messages) == 1


# -- the password is a secret -----------------------------------------------------------


def test_the_smtp_password_never_shows():
    company = parse_company(EXAMPLE + f"smtp: {{host: smtp.example.cn, port: 587, username: ar, password: {PASSWORD}, starttls: true}}\n")
    for shown in (repr(company.smtp), str(company.smtp), repr(company), company.model_dump_json(), str(company.model_dump()), str(company.smtp.model_dump())):
        assert PASSWORD not in shown
    assert company.smtp.password.get_secret_value() == PASSWORD


# -- one-time codes ---------------------------------------------------------------------

CODE = "482913"
CODE_TEXT = (
    "吴董事长您好：\n\n发票 INV-2026-000110 金额 ¥123,456.00，发票 654321。\n"
    f"请打开审批页面 http://127.0.0.1:4200/approve ，输入一次性验证码 {CODE} 后批准或拒绝。\n"
)
CODE_HTML = (
    "<p>发票 INV-2026-000110 ¥123,456.00，发票 654321</p><p>输入一次性验证码 "
    f'<strong style="font-size:18px;letter-spacing:2px">{CODE}</strong> 后批准或拒绝。</p>'
)


@pytest.mark.parametrize(
    "key",
    [
        "C1:stop_shipment:2026-11-11:code:0:boss",  # a request's code (execution.send_code)
        "C1:stop_shipment:2026-11-11:run2:code:renewed:boss",  # a later waiting run, a renewed code
        "review:send_statement:supervisor:2026-11-23:1:code:2:sup",  # a list's code (approval_groups.send_group_code)
    ],
)
def test_a_delivered_code_is_masked_in_the_ledger_and_kept_in_the_eml_file(sqlite_engine, tmp_path, key):
    with Session(sqlite_engine) as session, session.begin():
        session.add_all([_message(key, text=CODE_TEXT, html=CODE_HTML), _message("C1:follow_up:2026-11-23:email", text=CODE_TEXT, html=CODE_HTML)])
    outbox = tmp_path / "outbox"
    assert dispatch(sessionmaker(sqlite_engine), COMPANY, OutboxFolder(outbox)).sent == 2
    with Session(sqlite_engine) as session:
        rows = {row.key: row for row in session.scalars(select(OutboxMessage))}
    coded = rows[key]
    assert CODE not in coded.text and CODE not in coded.html
    assert coded.text == CODE_TEXT.replace(CODE, "******") and coded.html == CODE_HTML.replace(CODE, "******")  # everything else kept
    assert rows["C1:follow_up:2026-11-23:email"].text == CODE_TEXT  # a message without a code is left as it is
    # With no SMTP server the .eml file is the delivery: it keeps the code, for its owner's eyes only.
    (eml,) = [p for p in outbox.glob("*.eml") if "code" in p.name]
    import email
    import email.policy

    delivered = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert CODE in delivered.get_body(("plain",)).get_content()


def test_a_code_that_is_not_delivered_stays_for_the_next_dispatch(sqlite_engine, serve):
    port, capture, _ = serve("starttls")  # untrusted: refused
    key = "C1:stop_shipment:2026-11-11:code:0:boss"
    with Session(sqlite_engine) as session, session.begin():
        session.add(_message(key, text=CODE_TEXT, html=CODE_HTML))
    assert dispatch(sessionmaker(sqlite_engine), COMPANY, SmtpServer(_settings(port, starttls=True), timeout=10)).failed == 1
    with Session(sqlite_engine) as session:
        assert session.scalar(select(OutboxMessage)).text == CODE_TEXT


def test_a_code_delivered_by_smtp_is_masked(sqlite_engine, serve):
    port, capture, ca = serve("starttls")
    key = "C1:stop_shipment:2026-11-11:code:0:boss"
    with Session(sqlite_engine) as session, session.begin():
        session.add(_message(key, text=CODE_TEXT, html=CODE_HTML))
    assert dispatch(sessionmaker(sqlite_engine), COMPANY, SmtpServer(_settings(port, starttls=True, ca_file=ca), timeout=10)).sent == 1
    assert CODE in capture.messages[0].get_body(("plain",)).get_content()
    with Session(sqlite_engine) as session:
        row = session.scalar(select(OutboxMessage))
    assert row.sent_at is not None and CODE not in row.text and CODE not in row.html


def test_eml_files_are_for_their_owner_only(tmp_path):
    outbox = tmp_path / "huikuan-data" / "outbox"
    old = os.umask(0o022)  # the usual umask: files 0644 unless made otherwise
    try:
        folder = OutboxFolder(outbox)
        folder.send(build_message(_message(), COMPANY))
        (outbox / "C1_stop.eml.partial").write_bytes(b"left by a crash")  # an earlier partial file, world-readable
        (outbox / "C1_stop.eml.partial").chmod(0o644)
        folder.send(build_message(_message("C1:stop"), COMPANY))
        folder.send(build_message(_message("C1:stop"), COMPANY))  # replaced: still 0600
    finally:
        os.umask(old)
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in outbox.iterdir()}
    assert modes == {"C1_follow_up_2026-11-23_email.eml": 0o600, "C1_stop.eml": 0o600}


def test_an_existing_outbox_folder_is_left_as_it_is(tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o750)
    outbox.chmod(0o750)
    OutboxFolder(outbox).send(build_message(_message(), COMPANY))
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o750
    assert stat.S_IMODE(next(outbox.glob("*.eml")).stat().st_mode) == 0o600


# -- the codes the approval flows send ------------------------------------------------

from tests.test_approval_groups import COMPANY as GROUP_COMPANY  # noqa: E402
from tests.test_approval_groups import FILES as GROUP_FILES  # noqa: E402
from tests.test_approval_groups import REVIEW, opened, submit_reviews, take_day  # noqa: E402


@pytest.fixture
def ledger(tmp_path, session):
    """tests/test_approval_groups.py's ledger."""
    return import_ledger(session, tmp_path, GROUP_FILES)


@pytest.fixture
def reviews(ledger):
    return submit_reviews(ledger)


def test_the_codes_the_approval_flows_send_are_masked_once_delivered(reviews, ledger, ledger_engine, tmp_path):
    """A list's code and single requests' codes, from their real templates (in the company's language, whatever the customer's)."""
    from huikuan.collection import execution
    from models.enums import Locale
    from models.ledger import Approval, Customer

    opened(ledger)  # the list of statement reviews: one code to the supervisor
    take_day(ledger, dt.date(2026, 9, 16), only=("C2", "C3"))  # more than 3 months unpaid: stop-shipment, for a customer in Chinese and one in English
    singles = list(ledger.scalars(select(Approval).where(Approval.group_key.is_(None))))
    assert {a.customer_id for a in singles} == {"C2", "C3"}
    ledger.get(Customer, "C3").locale = Locale.en  # a request about it is still written for the boss, in the company's language
    for approval in singles:
        execution.send_code(ledger, approval, GROUP_COMPANY, REVIEW)
    ledger.commit()
    queued = {row.key: (row.text, row.html) for row in ledger.scalars(select(OutboxMessage)) if ":code:" in row.key}
    assert any(k.startswith("review:") for k in queued) and {"zh_CN"} == {
        "en" if "one-time code" in text else "zh_CN" for key, (text, _) in queued.items() if not key.startswith("review:")
    }
    assert dispatch(sessionmaker(ledger_engine), GROUP_COMPANY, OutboxFolder(tmp_path / "outbox")).failed == 0
    ledger.expire_all()
    for row in ledger.scalars(select(OutboxMessage).where(OutboxMessage.key.in_(queued))):
        text, html = queued[row.key]
        (code,) = set(re.findall(r"(?:one-time code |验证码 )(\d{6})", text))
        assert code not in row.text and code not in row.html and "******" in row.text and "******" in row.html, row.key
        link = re.compile(r"(/a/)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")  # the approver's page answers with the code: masked with it
        assert link.search(text) and not link.search(row.text), row.key
        assert (row.text, row.html) == (link.sub(r"\1******", text).replace(code, "******"), link.sub(r"\1******", html).replace(code, "******")), row.key
        eml = tmp_path / "outbox" / (re.sub(r"[^A-Za-z0-9_.-]+", "_", row.key) + ".eml")
        assert stat.S_IMODE(eml.stat().st_mode) == 0o600


def test_codes_delivered_by_an_earlier_version_are_masked_by_the_upgrade(tmp_path):
    """A ledger at 0008 (dispatch did not mask yet) holds a delivered code: the upgrade masks it, once, and nothing else."""
    from huikuan.ledger.db import make_engine
    from huikuan.ledger.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0008")
    sent = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows = [
        ("C1:stop_shipment:2026-11-11:code:0:boss", CODE_HTML, sent),  # delivered, code kept by the old version
        ("C1:stop_shipment:2026-11-11:code:1:boss", CODE_HTML, None),  # not delivered yet: kept for dispatch
        ("C1:follow_up:2026-11-23:email", None, sent),  # no code in its key: a six-digit number in it stays
    ]
    with engine.begin() as connection:
        for key, html, sent_at in rows:
            connection.exec_driver_sql(
                "INSERT INTO outbox (key, to_address, to_name, subject, text, html, sent_at, queued_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (key, "wangwei@hx.example.cn", "王伟", "审批", CODE_TEXT, html, sent_at and sent_at.isoformat(), sent.isoformat()),
            )
    upgrade(engine)
    with engine.connect() as connection:
        stored = {key: (text, html) for key, text, html in connection.exec_driver_sql("SELECT key, text, html FROM outbox")}
    engine.dispose()
    assert stored["C1:stop_shipment:2026-11-11:code:0:boss"] == (CODE_TEXT.replace(CODE, "******"), CODE_HTML.replace(CODE, "******"))
    assert stored["C1:stop_shipment:2026-11-11:code:1:boss"] == (CODE_TEXT, CODE_HTML)
    assert stored["C1:follow_up:2026-11-23:email"] == (CODE_TEXT, None)

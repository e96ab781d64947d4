"""The SMPP adapter's own calls against the fake SMSC: the connection check, enquire_link
keep-alive, TLS, and query_sm for receipts that never came (reconciliation)."""

import asyncio
import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messaging.models import Message, Status
from messaging.sweeps import message_check_carrier
from messaging_platform.testing.fake_smsc import FakeSmsc
from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SYSTEM_ID
from numbers.models import ProviderAccount, SmppPart
from numbers.providers.base import PermanentProviderError, ProviderAuthError, TransientProviderError
from numbers.providers.smpp import codec
from numbers.providers.smpp.provider import SmppProvider
from numbers.providers.smpp.session import SessionConfig, SmppSession
from numbers.providers.smpp.store import provider_sid_for

pytestmark = pytest.mark.django_db


def account_for(smsc, workspace=None, **settings):
    return ProviderAccount(
        workspace=workspace,
        provider="smpp",
        auth_token=SMPP_PASSWORD,
        settings={"host": "127.0.0.1", "port": smsc.port, "system_id": SMPP_SYSTEM_ID, **settings},
    )


def test_check_credentials_binds_and_unbinds(fake_smsc):
    info = SmppProvider(account_for(fake_smsc, system_type="VMA")).check_credentials()
    assert (info.account_sid, info.status) == (SMPP_SYSTEM_ID, "active")
    assert fake_smsc.binds == [(SMPP_SYSTEM_ID, "bind_transceiver", "VMA")]
    assert fake_smsc.wait_for(lambda: fake_smsc.unbinds == 1 and fake_smsc.bound_sessions == 0)


def test_check_credentials_errors(fake_smsc):
    wrong = account_for(fake_smsc)
    wrong.auth_token = "nope"
    with pytest.raises(ProviderAuthError) as caught:
        SmppProvider(wrong).check_credentials()
    assert caught.value.code == "ESME_RINVPASWD" and "nope" not in caught.value.message
    unknown = account_for(fake_smsc, system_id="stranger")
    with pytest.raises(ProviderAuthError):
        SmppProvider(unknown).check_credentials()
    port = fake_smsc.port
    fake_smsc.stop()
    with pytest.raises(TransientProviderError):
        SmppProvider(account_for(fake_smsc, port=port)).check_credentials()


def test_enquire_link_keeps_an_idle_bind_alive(fake_smsc):
    async def idle() -> bool:
        session = SmppSession(
            SessionConfig(
                "127.0.0.1",
                fake_smsc.port,
                SMPP_SYSTEM_ID,
                SMPP_PASSWORD,
                enquire_link_seconds=0.2,
                response_timeout=1,
            )
        )
        await session.open()
        await asyncio.sleep(1.0)
        alive = not session.closed.is_set()
        await session.close()
        return alive

    assert asyncio.run(idle())
    assert fake_smsc.enquire_links >= 3


def test_a_dead_link_ends_the_session(fake_smsc):
    """An SMSC that stops answering (enquire_link unanswered): the session ends, so the bind
    manager reconnects."""

    async def stalled() -> str:
        session = SmppSession(
            SessionConfig(
                "127.0.0.1",
                fake_smsc.port,
                SMPP_SYSTEM_ID,
                SMPP_PASSWORD,
                enquire_link_seconds=0.2,
                response_timeout=0.3,
            )
        )
        await session.open()
        fake_smsc.latency = 5  # nothing is answered in time from here on
        response = session.request("submit_sm", source_addr="1", destination_addr="2", short_message=b"x")
        with pytest.raises(Exception) as caught:
            await response
        await asyncio.wait_for(session.closed.wait(), 3)
        return f"{type(caught.value).__name__} {caught.value.written}"

    assert asyncio.run(stalled()) == "SessionClosed True"


@pytest.fixture
def tls_files(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake smsc")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "smsc.pem", tmp_path / "smsc.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_tls_bind_verifies_the_smsc_certificate(settings, tls_files):
    cert_file, key_file = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    with FakeSmsc(ssl_context=server_context) as smsc:
        smsc.add_account(SMPP_SYSTEM_ID, SMPP_PASSWORD)
        # Not trusted: the system store does not know the fake's certificate.
        with pytest.raises(TransientProviderError):
            SmppProvider(account_for(smsc, tls=True)).check_credentials()
        settings.SMPP_TLS_CA_FILE = str(cert_file)
        SmppProvider(account_for(smsc, tls=True)).check_credentials()
        assert smsc.binds == [(SMPP_SYSTEM_ID, "bind_transceiver", "")]


def sent_message(workspace, account, smsc_ids, body="hello"):
    message = Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status=Status.SENT,
        to_number="+14155552671",
        from_number="+12025550188",
        body=body,
        provider_sid=provider_sid_for(account.pk, smsc_ids[0]),
    )
    for index, smsc_id in enumerate(smsc_ids, start=1):
        exact, as_decimal, as_hex = codec.id_forms(smsc_id)
        SmppPart.objects.create(
            account=account,
            message=message,
            index=index,
            total=len(smsc_ids),
            status="submitted",
            smsc_id=smsc_id,
            id_exact=exact,
            id_as_decimal=as_decimal,
            id_as_hex=as_hex,
        )
    return message


def test_query_sm_recovers_a_lost_receipt(fake_smsc, workspace):
    account = account_for(fake_smsc, workspace)
    account.save()
    fake_smsc.states.update({"A1": (2, 0), "A2": (2, 0), "B1": (5, 11)})
    delivered = sent_message(workspace, account, ["A1", "A2"])
    undelivered = sent_message(workspace, account, ["B1"], body="other")
    message_check_carrier(message_id=delivered.pk)
    message_check_carrier(message_id=undelivered.pk)
    delivered.refresh_from_db()
    undelivered.refresh_from_db()
    assert delivered.status == Status.DELIVERED
    assert (undelivered.status, undelivered.error_code) == (Status.UNDELIVERED, "UNDELIV:11")
    assert [b[1] for b in fake_smsc.binds] == ["bind_transmitter", "bind_transmitter"]


def test_query_sm_for_an_id_the_smsc_does_not_know(fake_smsc, workspace):
    account = account_for(fake_smsc, workspace)
    account.save()
    message = sent_message(workspace, account, ["FFFF"])
    with pytest.raises(PermanentProviderError) as caught:
        SmppProvider(account).fetch_message(provider_sid=message.provider_sid)
    assert caught.value.code == "ESME_RQUERYFAIL"
    message_check_carrier(message_id=message.pk)  # logged, nothing changed
    message.refresh_from_db()
    assert message.status == Status.SENT

"""Serial drivers: E220 registers, AT modem lines, and both against emulated modules on ptys."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import serial_asyncio_fast

from shelterkit.errors import ConfigError, LinkError
from shelterkit.links.serial import (
    E220Config,
    E220Driver,
    LoraE5Driver,
    Rak3172Driver,
    SerialDriver,
    check_e220_reply,
    configure_e220,
    parse_rx_line,
)
from shelterkit.radio.airtime import LoraParams
from shelterkit.radio.framing import Frame, FrameType, encode_frame

from .test_radio_pty import PtyPair

needs_socat = pytest.mark.skipif(
    shutil.which("socat") is None and os.environ.get("CI") != "true", reason="needs socat"
)


def test_e220_registers_reproduce_the_vendor_example() -> None:
    # BW125, SF9, 200-byte packets, ambient RSSI on, 13 dBm, ch 0, RSSI byte on, fixed mode,
    # WOR 500 ms, key 0: C0 00 08 00 00 70 21 00 C0 00 00 (dragon-torch E220 ver 2.0 §9)
    config = E220Config(ambient_noise_rssi=True, rssi_byte=True, fixed_mode=True)
    assert config.write_command().hex(" ") == "c0 00 08 00 00 70 21 00 c0 00 00"


def test_e220_default_keeps_the_rssi_byte_off_and_transparent() -> None:
    regs = E220Config(spreading_factor=10, channel=14).registers()
    assert regs[5] & 0xC0 == 0  # no appended RSSI byte, transparent mode
    assert regs[2] & 0x1F == 5 << 2  # SF10 at BW125
    assert regs[4] == 14


def test_e220_bad_settings_rejected() -> None:
    for bad in (
        E220Config(spreading_factor=12),
        E220Config(channel=38),
        E220Config(packet_bytes=100),
    ):
        with pytest.raises(ConfigError):
            bad.registers()


def test_e220_replies_checked() -> None:
    regs = E220Config().registers()
    check_e220_reply(b"\xc1\x00\x08" + regs[:6] + b"\x00\x00", regs)
    with pytest.raises(LinkError, match="mode 3"):
        check_e220_reply(b"\xff\xff\xff", regs)
    with pytest.raises(LinkError):
        check_e220_reply(b"\xc1\x00\x08" + bytes(8), E220Config(channel=3).registers())


def test_at_receive_lines_parsed() -> None:
    assert parse_rx_line(b'+TEST: RX "0011AABB"') == b"\x00\x11\xaa\xbb"
    assert parse_rx_line(b"+EVT:RXP2P:-60:11:0011AABB") == b"\x00\x11\xaa\xbb"
    assert parse_rx_line(b"+EVT:0011AABB") == b"\x00\x11\xaa\xbb"  # old RUI3, second line


def test_at_foreign_and_damaged_lines_rejected() -> None:
    for line in (
        b"+TEST: TX DONE",
        b'+TEST: RX "0011AAB"',  # odd length
        b'+TEST: RX "00ZZ"',
        b"+EVT:RXP2P, RSSI -60, SNR 11",
        b"+EVT:TXP2P DONE",
        b'+TEST: RX "' + b"00" * 300 + b'"',  # longer than any LoRa packet
    ):
        assert parse_rx_line(line) is None


@pytest.fixture
async def ptys(tmp_path: Path) -> AsyncIterator[PtyPair]:
    pair = PtyPair(tmp_path)
    await pair.start()
    yield pair
    await pair.stop()


@needs_socat
async def test_e220_configuration_against_an_emulated_module(ptys: PtyPair) -> None:
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(ptys.b))

    async def module() -> bytes:
        command = await reader.readexactly(11)
        writer.write(b"\xc1" + command[1:9] + b"\x00\x00")  # CRYPT reads back as zero
        return command

    config = E220Config(channel=5, spreading_factor=10)
    answered = asyncio.create_task(module())
    await configure_e220(str(ptys.a), config)
    assert await answered == config.write_command()
    writer.close()


@needs_socat
async def test_e220_in_mode_0_refuses_configuration(ptys: PtyPair) -> None:
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(ptys.b))

    async def module() -> None:
        await reader.readexactly(11)
        writer.write(b"\xff\xff\xff")

    task = asyncio.create_task(module())
    with pytest.raises(LinkError, match="mode 3"):
        await configure_e220(str(ptys.a), E220Config())
    await task
    writer.close()


@needs_socat
async def test_e220_fixed_mode_prefixes_the_broadcast_address(ptys: PtyPair) -> None:
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(ptys.b))
    driver = E220Driver(str(ptys.a), config=E220Config(channel=7, fixed_mode=True))
    await driver.open()
    frame = encode_frame(Frame(FrameType.DATA, 1, 2, 3, 0, 1, b"hello"))
    await driver.write_frame(frame)
    assert await reader.readexactly(3 + len(frame)) == b"\xff\xff\x07" + frame
    with pytest.raises(LinkError):
        await driver.write_frame(b"x" * 201)
    await driver.close()
    writer.close()


async def _lora_e5_module(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sent: list[bytes]
) -> None:
    """Answers the LoRa-E5 test-mode commands; a TX packet is looped back as an RX line."""
    answers = {
        b"AT": b"+AT: OK",
        b"AT+MODE=TEST": b"+MODE: TEST",
        b"AT+TEST=RXLRPKT": b"+TEST: RXLRPKT",
    }
    while True:
        line = (await reader.readline()).strip()
        if line.startswith(b"AT+TEST=RFCFG"):
            writer.write(b"+TEST: RFCFG F:922000000, SF7, BW125K\r\n")
        elif line.startswith(b'AT+TEST=TXLRPKT,"'):
            packet = line[len(b'AT+TEST=TXLRPKT,"') : -1]
            sent.append(bytes.fromhex(packet.decode()))
            writer.write(b'+TEST: TXLRPKT "' + packet + b'"\r\n+TEST: TX DONE\r\n')
            writer.write(b'+TEST: LEN:5, RSSI:-40, SNR:9\r\n+TEST: RX "' + packet + b'"\r\n')
        else:
            writer.write(answers.get(line, b"+AT: ERROR(-1)") + b"\r\n")


@needs_socat
async def test_lora_e5_sends_and_receives_hex_packets(ptys: PtyPair) -> None:
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(ptys.b))
    sent: list[bytes] = []
    module = asyncio.create_task(_lora_e5_module(reader, writer, sent))
    driver = LoraE5Driver(str(ptys.a), lora=LoraParams(spreading_factor=7))
    await driver.open()
    frame = encode_frame(Frame(FrameType.DATA, 1, 2, 3, 0, 1, "避難所".encode()))
    await driver.write_frame(frame)
    assert sent == [frame]
    assert await driver.read(2.0) == frame
    await driver.close()
    module.cancel()
    writer.close()


@needs_socat
async def test_babbling_modem_line_rejected(ptys: PtyPair) -> None:
    _reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(ptys.b))
    driver = Rak3172Driver(str(ptys.a))
    driver.prepare = SerialDriver.prepare.__get__(driver)  # type: ignore[method-assign]
    await driver.open()  # the port only: no AT setup
    rng = random.Random(4)
    writer.write(bytes(rng.randrange(32, 127) for _ in range(20_000)) + b"\r\n")
    writer.write(b"+EVT:RXP2P:-70:5:C0FFEE\r\n")
    data = b""
    for _ in range(50):
        data += await driver.read(0.2)
        if data:
            break
    assert data == b"\xc0\xff\xee"
    assert driver.discarded_lines >= 1
    await driver.close()
    writer.close()


async def test_port_that_does_not_exist_is_a_link_error(tmp_path: Path) -> None:
    driver = SerialDriver(str(tmp_path / "ttyGone"))
    with pytest.raises(LinkError, match="cannot open"):
        await driver.open()


async def _rak3172_module(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, commands: list[bytes]
) -> None:
    """Answers RUI3 P2P commands; a sent packet comes back as a receive event."""
    while True:
        line = (await reader.readline()).strip()
        commands.append(line)
        writer.write(b"OK\r\n")
        if line.startswith(b"AT+PSEND="):
            packet = line[len(b"AT+PSEND=") :]
            writer.write(b"+EVT:TXP2P DONE\r\n+EVT:RXP2P:-50:9:" + packet + b"\r\n")


@needs_socat
async def test_rak3172_configures_p2p_and_exchanges_packets(ptys: PtyPair) -> None:
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=str(ptys.b))
    commands: list[bytes] = []
    module = asyncio.create_task(_rak3172_module(reader, writer, commands))
    driver = Rak3172Driver(str(ptys.a), lora=LoraParams(spreading_factor=10), frequency_mhz=922.4)
    await driver.open()
    assert commands == [b"AT", b"AT+NWM=0", b"AT+P2P=922400000:10:0:1:8:13", b"AT+PRECV=65533"]
    frame = encode_frame(Frame(FrameType.ACK, 2, 1, 9, 0, 1, b"\x01"))
    await driver.write_frame(frame)
    assert commands[-1] == b"AT+PSEND=" + frame.hex().upper().encode()
    assert await driver.read(2.0) == frame
    await driver.close()
    module.cancel()
    writer.close()

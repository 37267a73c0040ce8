"""Serial drivers for the radio link: a plain cable, an E220 UART module, AT-command modems.

A driver moves encoded frames (``radio.framing``) between a ``RadioLink`` and a port named
by a pyserial URL (``/dev/ttyUSB0``, a pty path, ``socket://host:port``; not ``loop://``,
whose handler refuses the non-blocking writes of the asyncio transport: use a pty pair).
It does not decide when to send: ``RadioTransport`` writes a frame only with a grant from
the airtime governor. Every wait has a timeout; any failure of the port is a ``LinkError``
or ``OSError`` that the transport answers by reconnecting.

Drivers (reference/anchors-tech.md §3):

* ``cable`` — RS-232 or USB serial, bytes as they are, no airtime rules.
* ``e220`` — E220-900T22S(JP) in transparent or fixed mode; one frame is one 200-byte
  packet. Registers can be written in configuration mode (M0 = M1 = high, 9600 8N1),
  which the pins must select: a PC cannot drive them, so ``configure`` is an explicit
  step (``configure_e220``), skipped unless asked for.
* ``lora-e5`` — Seeed LoRa-E5 in test (P2P) mode: ``AT+TEST=TXLRPKT`` / ``RXLRPKT``.
* ``rak3172`` — RAK3172 with RUI3 in P2P mode: ``AT+PSEND`` / ``AT+PRECV=65533``.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import re
from collections import deque
from dataclasses import dataclass

import serial  # type: ignore[import-untyped]
import serial_asyncio_fast

from shelterkit.errors import ConfigError, LinkError
from shelterkit.radio.airtime import MAX_LORA_PAYLOAD_BYTES, LoraParams
from shelterkit.radio.framing import E220_PACKET_BYTES, MAX_ENCODED_FRAME_BYTES

# Opening a port (and configuring a module) takes well under this; a hung USB stack more.
OPEN_TIMEOUT_S = 10.0
# A write of one frame at 9600 baud is 0.2 s; an AT modem adds the airtime (≤ 4 s).
WRITE_TIMEOUT_S = 10.0
# Bytes taken from the port per read.
READ_CHUNK_BYTES = 4096
# An AT response line: "+TEST: RX \"<hex>\"" of a 255-byte packet is 522 characters.
MAX_AT_LINE_BYTES = 600
# Received packets held while a command waits for its answer.
MAX_PENDING_PACKETS = 32
# The E220 answers a register command within 100 ms in the vendor's examples.
E220_REPLY_TIMEOUT_S = 1.0
# An AT command is answered in well under a second; TX DONE after the airtime (≤ 4 s).
AT_REPLY_TIMEOUT_S = 2.0
AT_TX_TIMEOUT_S = 6.0


class SerialDriver:
    """A plain cable: frames go out as they are; bytes read go to the deframer."""

    name = "cable"
    default_baudrate = 115_200
    # A cable carries the largest frame whole (one COBS block and its delimiter).
    packet_bytes = MAX_ENCODED_FRAME_BYTES

    def __init__(self, port: str, baudrate: int = 0) -> None:
        if not port:
            raise ConfigError(f"radio driver {self.name} needs a port")
        self.port = port
        self.baudrate = baudrate or self.default_baudrate
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.port, baudrate=self.baudrate
                )
        except (OSError, serial.SerialException, ValueError) as exc:
            raise LinkError(f"cannot open {self.port}: {exc}") from exc
        except TimeoutError as exc:
            raise LinkError(f"opening {self.port} timed out") from exc
        await self.prepare()

    async def prepare(self) -> None:
        """Bring the device into its working mode (nothing for a cable)."""

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await writer.wait_closed()

    async def read_raw(self, wait_s: float) -> bytes:
        if self._reader is None:
            raise LinkError("port is not open")
        try:
            async with asyncio.timeout(max(wait_s, 0.0)):
                data = await self._reader.read(READ_CHUNK_BYTES)
        except TimeoutError:
            return b""
        except (OSError, serial.SerialException) as exc:
            raise LinkError(f"reading {self.port}: {exc}") from exc
        if not data:
            raise LinkError(f"{self.port} was closed")
        return data

    async def write_raw(self, data: bytes) -> None:
        if self._writer is None:
            raise LinkError("port is not open")
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                self._writer.write(data)
                await self._writer.drain()
        except (OSError, serial.SerialException) as exc:
            raise LinkError(f"writing {self.port}: {exc}") from exc
        except TimeoutError as exc:
            raise LinkError(f"writing {self.port} timed out") from exc

    async def read(self, wait_s: float) -> bytes:
        """Frame-stream bytes received within ``wait_s`` (``b""`` if none)."""
        return await self.read_raw(wait_s)

    async def write_frame(self, frame: bytes) -> None:
        """Send one encoded frame (one radio packet)."""
        await self.write_raw(frame)


# -- E220-900T22S(JP) -----------------------------------------------------------------------

# REG0 bits 7–5: UART rate (vendor manual §9 table; 011 = 9600 is the default).
_E220_BAUD_BITS = {1200: 0, 2400: 1, 4800: 2, 9600: 3, 19200: 4, 38400: 5, 57600: 6, 115200: 7}
# REG0 bits 4–2 spreading factor, bits 1–0 bandwidth on the JP firmware: the vendor's worked
# example "BW125, SF9" writes REG0 = 0x70 (9600 baud, 0b100_00), dragon-torch E220 ver 2.0 §9.
_E220_SF_BITS = {5: 0, 6: 1, 7: 2, 8: 3, 9: 4, 10: 5, 11: 6}
_E220_BW_BITS = {125: 0, 250: 1, 500: 2}
# REG1 bits 7–6 sub-packet length: 00 = 200, 01 = 128, 10 = 64, 11 = 32 bytes.
_E220_PACKET_BITS = {200: 0, 128: 1, 64: 2, 32: 3}
# REG1 bits 1–0 TX power; 01 = 13 dBm (20 mW) in the vendor's example.
_E220_POWER_BITS = {13: 1, 12: 2, 7: 3, 0: 3}
E220_WRITE = 0xC0
E220_READ = 0xC1
E220_TEMPORARY = 0xC2
E220_ERROR = b"\xff\xff\xff"
E220_REGISTER_COUNT = 8  # ADDH, ADDL, REG0, REG1, REG2, REG3, CRYPT_H, CRYPT_L
E220_CONFIG_BAUDRATE = 9600  # configuration mode always talks at 9600 8N1
E220_BROADCAST_ADDRESS = 0xFFFF


@dataclass(frozen=True, slots=True)
class E220Config:
    """Register settings of an E220-900T22S(JP) (vendor manual ver 2.0 §9)."""

    address: int = 0
    channel: int = 0
    spreading_factor: int = 9
    bandwidth_khz: int = 125
    packet_bytes: int = E220_PACKET_BYTES
    uart_baudrate: int = 9600
    tx_power_dbm: int = 13
    ambient_noise_rssi: bool = False
    rssi_byte: bool = False  # an appended RSSI byte would corrupt the next frame: keep off
    fixed_mode: bool = False
    wor_cycle: int = 0  # 0 = 500 ms … 7 = 4000 ms
    key: int = 0

    def registers(self) -> bytes:
        try:
            reg0 = (
                _E220_BAUD_BITS[self.uart_baudrate] << 5
                | _E220_SF_BITS[self.spreading_factor] << 2
                | _E220_BW_BITS[self.bandwidth_khz]
            )
            reg1 = (
                _E220_PACKET_BITS[self.packet_bytes] << 6
                | (0x20 if self.ambient_noise_rssi else 0)
                | _E220_POWER_BITS[self.tx_power_dbm]
            )
        except KeyError as exc:
            raise ConfigError(f"E220 does not support {exc.args[0]!r} here") from exc
        if not 0 <= self.channel <= 37 or not 0 <= self.address <= 0xFFFF:
            raise ConfigError("E220 channel is 0–37 and address 0–65535")
        if not 0 <= self.wor_cycle <= 7 or not 0 <= self.key <= 0xFFFF:
            raise ConfigError("E220 WOR cycle is 0–7 and key 0–65535")
        reg3 = (0x80 if self.rssi_byte else 0) | (0x40 if self.fixed_mode else 0) | self.wor_cycle
        return bytes(
            [
                self.address >> 8,
                self.address & 0xFF,
                reg0,
                reg1,
                self.channel,
                reg3,
                self.key >> 8,
                self.key & 0xFF,
            ]
        )

    def write_command(self, *, temporary: bool = False) -> bytes:
        """``C0 00 08 <registers>`` (``C2`` for a setting lost at power-off)."""
        head = E220_TEMPORARY if temporary else E220_WRITE
        return bytes([head, 0x00, E220_REGISTER_COUNT]) + self.registers()


def e220_read_command() -> bytes:
    return bytes([E220_READ, 0x00, E220_REGISTER_COUNT])


def check_e220_reply(reply: bytes, expected: bytes) -> None:
    """A write is answered ``C1 00 08 <registers>``; ``FF FF FF`` is the module's error."""
    if reply.startswith(E220_ERROR):
        raise LinkError("E220 refused the register command (FF FF FF): is it in mode 3?")
    head = bytes([E220_READ, 0x00, E220_REGISTER_COUNT])
    if len(reply) < 3 + 6 or not reply.startswith(head):
        raise LinkError(f"E220 gave no register reply: {reply[:16].hex(' ')}")
    # CRYPT_H/L are write-only and read back as 0: compare the first six registers
    if reply[3:9] != expected[:6]:
        raise LinkError(
            f"E220 registers read back {reply[3:9].hex(' ')}, wrote {expected[:6].hex(' ')}"
        )


class E220Driver(SerialDriver):
    name = "e220"
    default_baudrate = 9600
    packet_bytes = E220_PACKET_BYTES

    def __init__(
        self,
        port: str,
        baudrate: int = 0,
        *,
        config: E220Config | None = None,
        configure: bool = False,
    ) -> None:
        super().__init__(port, baudrate)
        self.config = config or E220Config()
        self.configure = configure
        self.packet_bytes = self.config.packet_bytes

    async def prepare(self) -> None:
        if self.configure:
            await self.write_registers()

    async def write_registers(self) -> None:
        """Write and check the registers; the module must be in configuration mode."""
        command = self.config.write_command()
        await self.write_raw(command)
        reply = b""
        try:
            async with asyncio.timeout(E220_REPLY_TIMEOUT_S):
                while len(reply) < 3 + E220_REGISTER_COUNT and not reply.startswith(E220_ERROR):
                    reply += await self.read_raw(E220_REPLY_TIMEOUT_S)
        except TimeoutError:
            pass
        check_e220_reply(reply, command[3:])

    async def write_frame(self, frame: bytes) -> None:
        if len(frame) > self.packet_bytes:
            raise LinkError(
                f"frame of {len(frame)} B exceeds the E220 packet of {self.packet_bytes} B"
            )
        if self.config.fixed_mode:  # fixed mode: address and channel before the payload
            a = E220_BROADCAST_ADDRESS
            frame = bytes([a >> 8, a & 0xFF, self.config.channel]) + frame
        await self.write_raw(frame)


async def configure_e220(port: str, config: E220Config) -> None:
    """Write ``config`` to a module whose M0/M1 pins select configuration mode (9600 8N1)."""
    driver = E220Driver(port, E220_CONFIG_BAUDRATE, config=config, configure=True)
    try:
        await driver.open()
    finally:
        await driver.close()


# -- AT-command modems ----------------------------------------------------------------------

_HEX = re.compile(rb"^[0-9A-Fa-f]*$")


def parse_rx_line(line: bytes) -> bytes | None:
    """The packet of a LoRa-E5 or RAK3172 receive line, else ``None``.

    ``+TEST: RX "AABB…"`` (LoRa-E5), ``+EVT:RXP2P:-60:11:AABB…`` (RAK3172 RUI3), and the
    second line of old RUI3 firmware, ``+EVT:AABB…``.
    """
    line = line.strip()
    hex_part: bytes | None = None
    if line.startswith(b'+TEST: RX "') and line.endswith(b'"'):
        hex_part = line[len(b'+TEST: RX "') : -1]
    elif line.startswith(b"+EVT:RXP2P:"):
        fields = line.split(b":")
        if len(fields) == 5:
            hex_part = fields[4]
    elif line.startswith(b"+EVT:") and b":" not in line[5:] and b"," not in line:
        hex_part = line[5:]
    if hex_part is None or len(hex_part) % 2 or not _HEX.match(hex_part):
        return None
    if len(hex_part) // 2 > MAX_LORA_PAYLOAD_BYTES:
        return None
    return binascii.unhexlify(hex_part)


class AtModemDriver(SerialDriver):
    """Common part of the AT modems: a line reader that sets received packets aside."""

    packet_bytes = MAX_LORA_PAYLOAD_BYTES
    tx_done = b""

    def __init__(
        self,
        port: str,
        baudrate: int = 0,
        *,
        lora: LoraParams | None = None,
        frequency_mhz: float = 922.0,
        tx_power_dbm: int = 13,
    ) -> None:
        super().__init__(port, baudrate)
        self.lora = lora or LoraParams()
        self.frequency_mhz = frequency_mhz
        self.tx_power_dbm = tx_power_dbm
        self._line = bytearray()
        self._lines: deque[bytes] = deque(maxlen=MAX_PENDING_PACKETS)
        self._packets: deque[bytes] = deque(maxlen=MAX_PENDING_PACKETS)
        self.discarded_lines = 0

    async def _read_lines(self, wait_s: float) -> None:
        data = await self.read_raw(wait_s)
        for byte in data:
            if byte in (0x0A, 0x0D):
                if self._line:
                    self._take_line(bytes(self._line))
                    self._line.clear()
            elif len(self._line) < MAX_AT_LINE_BYTES:
                self._line.append(byte)
            else:  # a babbling line: drop it whole
                self.discarded_lines += 1
                self._line.clear()

    def _take_line(self, line: bytes) -> None:
        packet = parse_rx_line(line)
        if packet is not None:
            self._packets.append(packet)
        else:
            self._lines.append(line)

    async def command(
        self, text: str, expect: bytes, timeout_s: float = AT_REPLY_TIMEOUT_S
    ) -> bytes:
        """Send ``text`` and wait for a line starting with ``expect`` (or an error line)."""
        self._lines.clear()
        await self.write_raw(text.encode("ascii") + b"\r\n")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            while self._lines:
                line = self._lines.popleft()
                if line.startswith(expect):
                    return line
                if b"ERROR" in line.upper() and not expect.upper().startswith(b"+"):
                    raise LinkError(f"{self.name}: {text.split('=')[0]} answered {line!r}")
            left = deadline - loop.time()
            if left <= 0:
                raise LinkError(f"{self.name}: no {expect!r} after {text.split('=')[0]}")
            await self._read_lines(left)

    async def read(self, wait_s: float) -> bytes:
        if not self._packets:
            await self._read_lines(wait_s)
        return b"".join(self._packets.popleft() for _ in range(len(self._packets)))


class LoraE5Driver(AtModemDriver):
    """Seeed LoRa-E5 (STM32WLE5) in test mode (LoRa-E5 AT Command Specification v1.0)."""

    name = "lora-e5"
    default_baudrate = 9600
    tx_done = b"+TEST: TX DONE"

    async def prepare(self) -> None:
        await self.command("AT", b"+AT: OK")
        await self.command("AT+MODE=TEST", b"+MODE: TEST")
        lora = self.lora
        await self.command(
            f"AT+TEST=RFCFG,{self.frequency_mhz:.3f},SF{lora.spreading_factor},"
            f"{lora.bandwidth_hz // 1000},{lora.preamble_symbols},{lora.preamble_symbols},"
            f"{self.tx_power_dbm},ON,OFF,OFF",
            b"+TEST: RFCFG",
        )
        await self.command("AT+TEST=RXLRPKT", b"+TEST: RXLRPKT")

    async def write_frame(self, frame: bytes) -> None:
        await self.command(
            f'AT+TEST=TXLRPKT,"{frame.hex().upper()}"', self.tx_done, AT_TX_TIMEOUT_S
        )
        await self.command("AT+TEST=RXLRPKT", b"+TEST: RXLRPKT")  # TX ends receive mode


# RUI3 bandwidth index for P2P: 0 = 125, 1 = 250, 2 = 500 kHz (RAK AT command manual).
_RAK_BW_INDEX = {125_000: 0, 250_000: 1, 500_000: 2}


class Rak3172Driver(AtModemDriver):
    """RAK3172 with RUI3 in P2P mode (RUI3 v3.4.0 release notes, RAK AT migration guide)."""

    name = "rak3172"
    default_baudrate = 115_200
    tx_done = b"+EVT:TXP2P DONE"

    async def prepare(self) -> None:
        lora = self.lora
        try:
            bw = _RAK_BW_INDEX[lora.bandwidth_hz]
        except KeyError as exc:
            raise ConfigError(f"RAK3172 P2P has no bandwidth {lora.bandwidth_hz} Hz") from exc
        await self.command("AT", b"OK")
        await self.command("AT+NWM=0", b"OK")
        await self.command(
            f"AT+P2P={round(self.frequency_mhz * 1e6)}:{lora.spreading_factor}:{bw}:"
            f"{lora.coding_rate}:{lora.preamble_symbols}:{self.tx_power_dbm}",
            b"OK",
        )
        await self.command("AT+PRECV=65533", b"OK")  # receive, and still allow TX

    async def write_frame(self, frame: bytes) -> None:
        await self.command(f"AT+PSEND={frame.hex().upper()}", b"OK")
        await self._wait_tx()

    async def _wait_tx(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AT_TX_TIMEOUT_S
        while True:
            while self._lines:
                if self._lines.popleft().startswith(self.tx_done):
                    return
            left = deadline - loop.time()
            if left <= 0:
                raise LinkError(f"{self.name}: no TX DONE")
            await self._read_lines(left)


DRIVERS: dict[str, type[SerialDriver]] = {
    d.name: d for d in (SerialDriver, E220Driver, LoraE5Driver, Rak3172Driver)
}

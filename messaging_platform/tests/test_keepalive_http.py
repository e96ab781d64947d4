"""The delivery engine's HTTP client (messaging_platform.keepalive_http) against real sockets: the
answer shapes a carrier may send, connections kept and reused, and the failures a send must see
as failures (never a silent second POST)."""

import asyncio
import socket

import pytest

from messaging_platform.keepalive_http import HttpConnectionError, KeepAlivePool, on_write, urgent
from messaging_platform.testing.http_server import HttpServer


def listener() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0))


async def serve(handler) -> tuple[HttpServer, str]:
    sock = listener()
    server = HttpServer(handler)
    await server.start(sock)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_it_posts_and_reuses_one_connection_for_many_requests():
    seen = []

    def handler(method, path, query, headers, body):
        seen.append((method, path, query, headers.get("authorization"), body))
        return 201, {"Content-Type": "application/json"}, b'{"sid": "SM1"}'

    async def main():
        opened = []
        server = HttpServer(handler, on_connection=lambda: opened.append(1))
        sock = listener()
        await server.start(sock)
        pool = KeepAlivePool(
            f"http://127.0.0.1:{sock.getsockname()[1]}", headers={"Authorization": "Basic abc"}, limit=4
        )
        answers = [await pool.request("POST", "/x?y=1", body=b"To=%2B1") for _ in range(5)]
        await pool.close()
        await server.close()
        return answers, len(opened)

    answers, opened = asyncio.run(main())
    assert [(a.status, a.body) for a in answers] == [(201, b'{"sid": "SM1"}')] * 5
    assert answers[0].headers["content-type"] == "application/json"
    assert seen[0] == ("POST", "/x", "y=1", "Basic abc", b"To=%2B1")
    assert opened == 1


def test_concurrent_requests_open_at_most_the_pools_limit():
    async def slow(method, path, query, headers, body):
        await asyncio.sleep(0.05)
        return 200, {}, body

    def handler(*args):
        return slow(*args)

    async def main():
        opened = []
        server = HttpServer(handler, on_connection=lambda: opened.append(1))
        sock = listener()
        await server.start(sock)
        pool = KeepAlivePool(f"http://127.0.0.1:{sock.getsockname()[1]}", limit=3)
        answers = await asyncio.gather(*(pool.request("POST", "/", body=str(i).encode()) for i in range(12)))
        await pool.close()
        await server.close()
        return answers, len(opened)

    answers, opened = asyncio.run(main())
    assert sorted(int(a.body) for a in answers) == list(range(12))
    assert opened == 3


async def raw_server(answer: bytes, *, close: bool = False) -> tuple[asyncio.Server, str, list]:
    """A server that answers every request with these exact bytes (and closes, if told)."""
    requests = []

    async def client(reader, writer):
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            requests.append(head)
            writer.write(answer)
            await writer.drain()
            if close:
                writer.close()
                return

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", requests


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n",
            b"hello",
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    ],
)
def test_it_reads_bodies_by_length_and_chunked(answer, body):
    async def main():
        server, url, _ = await raw_server(answer)
        pool = KeepAlivePool(url)
        first = await pool.request("POST", "/", body=b"a")
        second = await pool.request("POST", "/", body=b"b")  # the same connection, still in step
        await pool.close()
        server.close()
        return first, second, pool.connections_made

    first, second, made = asyncio.run(main())
    assert first.body == second.body == body
    assert made == 1


def test_an_answer_ended_by_the_servers_close_is_read_whole_and_not_reused():
    async def main():
        server, url, requests = await raw_server(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", close=True
        )
        pool = KeepAlivePool(url)
        answers = [await pool.request("POST", "/") for _ in range(2)]
        await pool.close()
        server.close()
        return answers, pool.connections_made, len(requests)

    answers, made, requests = asyncio.run(main())
    assert [a.body for a in answers] == [b"all of it"] * 2
    assert (made, requests) == (2, 2)


def test_a_connection_lost_before_the_answer_is_an_error_and_the_request_is_not_sent_again():
    async def main():
        server, url, requests = await raw_server(b"", close=True)  # takes the request, answers nothing
        pool = KeepAlivePool(url)
        with pytest.raises(HttpConnectionError):
            await pool.request("POST", "/", body=b"once")
        await asyncio.sleep(0.05)
        await pool.close()
        server.close()
        return len(requests)

    assert asyncio.run(main()) == 1


def test_a_late_answer_times_out_and_its_connection_is_dropped():
    async def never(*args):
        await asyncio.sleep(5)
        return 200, {}, b""

    async def main():
        opened = []
        server = HttpServer(lambda *args: never(*args), on_connection=lambda: opened.append(1))
        sock = listener()
        await server.start(sock)
        pool = KeepAlivePool(f"http://127.0.0.1:{sock.getsockname()[1]}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await pool.request("POST", "/", timeout=0.2)
        took = loop.time() - started
        await pool.close()
        await server.close()
        return took

    assert 0.15 < asyncio.run(main()) < 2


def test_nothing_listening_is_a_connection_error():
    sock = listener()
    port = sock.getsockname()[1]
    sock.close()

    async def main():
        pool = KeepAlivePool(f"http://127.0.0.1:{port}")
        with pytest.raises(HttpConnectionError):
            await pool.request("POST", "/")
        # The failed connection gave its slot back: the pool is not left full.
        assert pool._open == 0

    asyncio.run(main())


def test_an_idle_connection_past_its_keep_alive_is_replaced():
    async def main():
        server, url, _ = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        pool = KeepAlivePool(url, keepalive_seconds=0.05)
        await pool.request("GET", "/")
        await asyncio.sleep(0.1)
        await pool.request("GET", "/")
        await pool.close()
        server.close()
        return pool.connections_made

    assert asyncio.run(main()) == 2


def test_an_urgent_request_takes_the_next_free_connection_ahead_of_those_waiting():
    order = []

    async def slow(body):
        order.append(body)
        await asyncio.sleep(0.02)
        return 200, {}, body

    async def main():
        server, url = await serve(lambda method, path, query, headers, body: slow(body))
        pool = KeepAlivePool(url, limit=1)
        burst = [
            asyncio.ensure_future(pool.request("POST", "/", body=f"burst{i}".encode())) for i in range(4)
        ]
        await asyncio.sleep(0.005)  # the first holds the connection, three wait

        async def paced():
            urgent.set(True)
            return await pool.request("POST", "/", body=b"paced")

        await asyncio.gather(*burst, paced())
        await pool.close()
        await server.close()

    asyncio.run(main())
    assert order[:2] == [b"burst0", b"paced"]


def test_the_write_hook_runs_as_the_request_leaves():
    events = []

    def handler(method, path, query, headers, body):
        events.append("served")
        return 200, {}, b""

    async def main():
        server, url = await serve(handler)
        pool = KeepAlivePool(url)
        on_write.set(lambda: events.append("written"))
        await pool.request("POST", "/")
        await pool.close()
        await server.close()

    asyncio.run(main())
    assert events == ["written", "served"]

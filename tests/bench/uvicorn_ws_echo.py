"""A WebSocket echo as a bare ASGI app, for tests/bench/websocket.sh to run under uvicorn.

The fastest thing uvicorn can serve: no framework between its protocol and the echo.
"""


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif event["type"] == "websocket.receive":
            if event.get("text") is not None:
                await send({"type": "websocket.send", "text": event["text"]})
            else:
                await send({"type": "websocket.send", "bytes": event["bytes"]})
        elif event["type"] == "websocket.disconnect":
            return

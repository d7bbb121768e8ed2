"""The FastAPI side of tests/bench/handlers.sh: the same four endpoints as corral's demo
app, written the way FastAPI users write them (async def on the loop, def on the
threadpool). Run: python3 -m uvicorn --app-dir tests/bench fastapi_handlers:app"""

import asyncio
import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

app = FastAPI()


@app.get("/json")
async def json_hello():
    return JSONResponse({"message": "Hello, World!"})


@app.get("/sleep", response_class=PlainTextResponse)
async def sleep(ms: int = 0):
    await asyncio.sleep(ms / 1000)
    return f"slept {ms} ms\n"


@app.get("/blocking", response_class=PlainTextResponse)
def blocking(ms: int = 0):  # plain def: Starlette runs it on its threadpool
    time.sleep(ms / 1000)
    return f"slept {ms} ms on the thread pool\n"


@app.get("/cpu", response_class=PlainTextResponse)
async def cpu(n: int = 1000000):
    x = 1
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    return f"{x % 1000}\n"

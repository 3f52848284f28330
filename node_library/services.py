"""The demo model worker: a service that needs a GPU, and its CPU mock for Simulate and CI."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator
from typing import ClassVar

from pydantic import BaseModel, Field

from runtime import CommandError, DataOut, ErrorCode, Inputs, Resources, Service, State, command


class ReloadModel(BaseModel):
    modelPath: str = Field(min_length=1, description="where the weights are")
    device: str = "cpu"


class ReloadResult(BaseModel):
    loaded: bool
    modelPath: str
    version: int


class Generate(BaseModel):
    prompt: str
    maxTokens: int = Field(default=5, ge=1, le=1000)


class Token(BaseModel):
    index: int
    token: str


class ModelWorker(Service):
    """Runs a model on a GPU; in Simulate its CPU mock stands in."""

    class_name = "demo.model_worker"
    label = "Model worker"
    category = "services"
    namespace = "demo"
    resources = Resources(cpu="2", memory="4Gi", gpu=1)
    mock: ClassVar[str | None] = "demo.mock_model_worker"
    modelPath = State(str, "", doc="the loaded model")
    modelVersion = State(int, 0, access="ro", show=True)
    score = DataOut(float)

    @command
    async def reload_model(self, args: ReloadModel) -> ReloadResult:
        """Load model weights from modelPath onto device."""
        if shutil.which("nvidia-smi") is None:
            raise CommandError(ErrorCode.INTERNAL, "no GPU on this machine (nvidia-smi not "
                               "found); run demo.mock_model_worker instead")
        raise CommandError(ErrorCode.INTERNAL, "GPU inference is not part of this demo")

    def compute(self, inputs: Inputs) -> float:
        raise RuntimeError("no model loaded on a GPU")


class MockModelWorker(ModelWorker):
    """CPU mock of the model worker: synthetic scores, a fake reload, streamed tokens."""

    class_name = "demo.mock_model_worker"
    label = "Model worker (CPU mock)"
    resources = Resources(cpu="0.2", memory="64Mi", gpu=0)
    mock = None
    is_mock = True
    loadDelayMs = State(int, 10, ge=0, le=60_000, doc="simulated load time")

    @command
    async def reload_model(self, args: ReloadModel) -> ReloadResult:
        """Pretend to load modelPath (takes loadDelayMs)."""
        await asyncio.sleep(self.loadDelayMs / 1000)
        self.modelPath = args.modelPath
        self.modelVersion = self.modelVersion + 1
        return ReloadResult(loaded=True, modelPath=args.modelPath, version=self.modelVersion)

    @command
    async def generate(self, args: Generate) -> AsyncIterator[Token]:
        """Stream maxTokens synthetic tokens for the prompt."""
        for i in range(args.maxTokens):
            digest = hashlib.sha1(f"{args.prompt}:{i}".encode()).hexdigest()[:6]
            yield Token(index=i, token=digest)
            await asyncio.sleep(0)

    def compute(self, inputs: Inputs) -> float:
        digest = hashlib.sha1(f"{self.modelPath}:{inputs.ctx_id}".encode()).digest()
        return digest[0] / 255.0

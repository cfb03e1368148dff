"""Scripted chat models for unit tests of graph logic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from runtime.embedded import EmbeddedChatModel

Reply = str | Exception | Callable[[list[BaseMessage], dict[str, Any]], str]


class ScriptedChatModel(BaseChatModel):
    """Answers each call with the next scripted reply (a string, an exception to raise,
    or a function of the messages and call kwargs), and records every call."""

    replies: list[Any]
    repeat_last: bool = False
    _calls: list[tuple[list[BaseMessage], dict[str, Any]]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def of(cls, replies: Iterable[Reply], *, repeat_last: bool = False) -> ScriptedChatModel:
        return cls(replies=list(replies), repeat_last=repeat_last)

    @property
    def calls(self) -> list[tuple[list[BaseMessage], dict[str, Any]]]:
        return self._calls

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self._calls.append((messages, kwargs))
            if not self.replies:
                raise AssertionError("ScriptedChatModel ran out of replies")
            reply = (
                self.replies[0]
                if (self.repeat_last and len(self.replies) == 1)
                else self.replies.pop(0)
            )
        if isinstance(reply, Exception):
            raise reply
        text = reply(messages, kwargs) if callable(reply) else reply
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


class RecordingEmbeddedModel(EmbeddedChatModel):
    """An EmbeddedChatModel that never loads llama.cpp: it records each call's keywords
    (``grammar=``, ``format=`` …) in ``seen`` and answers ``reply``."""

    reply: str = ""
    seen: list[dict[str, Any]] = []

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(dict(kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply))])

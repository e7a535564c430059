"""The in-process generator: a transformers causal LM decoding under an xgrammar grammar.

Decoding is greedy with a KV cache and a grammar mask on every step, so the output always
parses. Where the grammar leaves only one way to go on (the rest of a quote once its first
words pick a clause, the JSON punctuation between fields), the forced text is fed to the model
in one forward pass instead of token by token ("jump-forward" decoding): on a CPU that turns a
quote from dozens of decode steps into one short prefill.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import GeneratorOutputError, GeneratorUnavailableError
from engine.generation import Generation, OutputConstraint
from engine.packaged_models import resolve_generator_path


class TransformersGenerator:
    def __init__(
        self,
        model: str,
        cache_dir: Path,
        adapter: str | None = None,
        threads: int = 0,
        device: str = "cpu",
    ) -> None:
        self.model_spec = model
        self.adapter = adapter
        self._cache_dir = cache_dir
        self._threads = threads
        self._device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._compiler: Any = None
        self._vocab_size = 0
        # One decode at a time: the model and its grammar matcher are not shareable.
        self._lock = threading.Lock()
        self.model_version = model + (f"+{adapter}" if adapter else "")

    def warm_up(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            import xgrammar as xgr
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self._threads:
                torch.set_num_threads(self._threads)
            path = resolve_generator_path(self.model_spec, self._cache_dir)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
            if self.adapter:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, self.adapter)
            model = model.to(self._device).eval()
            vocab_size = int(model.get_output_embeddings().weight.shape[0])
            info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
            self._compiler = xgr.GrammarCompiler(info, max_threads=1)
        except GeneratorUnavailableError:
            raise
        except (OSError, ValueError, ImportError) as exc:
            raise GeneratorUnavailableError(
                f"cannot load the generator '{self.model_spec}': {exc}"
            ) from exc
        self._tokenizer, self._model, self._vocab_size = tokenizer, model, vocab_size

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        self.warm_up()
        ids = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return [int(token) for token in ids]

    def generate(
        self,
        messages: list[dict[str, str]],
        constraint: OutputConstraint,
        max_new_tokens: int,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        self.warm_up()
        return self._generate(messages, constraint, max_new_tokens, on_text)

    def compile(self, grammar: str | None = None, json_schema: dict[str, Any] | None = None) -> Any:
        self.warm_up()
        if grammar is not None:
            return self._compiler.compile_grammar(grammar)
        import json

        return self._compiler.compile_json_schema(json.dumps(json_schema), any_whitespace=False)

    def _generate(
        self,
        messages: list[dict[str, str]],
        constraint: OutputConstraint,
        max_new_tokens: int,
        on_text: Callable[[str], None] | None,
    ) -> Generation:
        compiled = self.compile(grammar=constraint.grammar)
        generation = self.decode(messages, compiled, max_new_tokens, on_text)
        if generation.finish_reason == "length":
            raise GeneratorOutputError(
                f"generation stopped at {max_new_tokens} tokens before the answer was complete: "
                f"{generation.text[-200:]!r}"
            )
        return generation

    def decode(
        self,
        messages: list[dict[str, str]],
        compiled: Any,
        max_new_tokens: int,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        self.warm_up()
        with self._lock:
            return self._decode(messages, compiled, max_new_tokens, on_text)

    def _decode(
        self,
        messages: list[dict[str, str]],
        compiled: Any,
        max_new_tokens: int,
        on_text: Callable[[str], None] | None,
    ) -> Generation:
        import torch
        import xgrammar as xgr

        started = time.perf_counter()
        prompt = self.prompt_ids(messages)
        matcher = xgr.GrammarMatcher(compiled) if compiled is not None else None
        bitmask = xgr.allocate_token_bitmask(1, self._vocab_size)
        generated: list[int] = []
        text_so_far = ""
        feed = torch.tensor([prompt], device=self._device)
        past: Any = None
        eos = {self._tokenizer.eos_token_id}
        if matcher is not None:
            eos |= set(matcher.stop_token_ids)
        finished = False
        with torch.inference_mode():
            while len(generated) < max_new_tokens and not finished:
                output = self._model(input_ids=feed, cache=past, use_cache=True, logits_to_keep=1)
                past = output.cache
                logits = output.logits[:, -1, :].float()
                if matcher is not None:
                    matcher.fill_next_token_bitmask(bitmask)
                    xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device))
                token = int(torch.argmax(logits, dim=-1))
                if matcher is not None and not matcher.accept_token(token):
                    raise GeneratorOutputError(f"the grammar rejected token {token}")
                if token in eos:
                    finished = True
                    break
                new_tokens = [token]
                try:
                    forced = matcher.find_jump_forward_string() if matcher is not None else ""
                except UnicodeDecodeError:
                    forced = ""  # the forced bytes end inside a character; decode normally
                if forced:
                    forced_ids = self._tokenizer.encode(forced, add_special_tokens=False)
                    if forced_ids and matcher is not None and matcher.accept_string(forced):
                        new_tokens += forced_ids
                finished = matcher is not None and matcher.is_terminated()
                generated += new_tokens
                feed = torch.tensor([new_tokens], device=self._device)
                if on_text is not None:
                    text = self._tokenizer.decode(
                        generated, skip_special_tokens=True, clean_up_tokenization_spaces=False
                    )
                    # Hold back a character whose bytes are not all decoded yet.
                    decoded = text.rstrip("\ufffd")
                    if len(decoded) > len(text_so_far):
                        on_text(decoded[len(text_so_far) :])
                        text_so_far = decoded
        text = self._tokenizer.decode(
            generated, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        if on_text is not None and len(text) > len(text_so_far):
            on_text(text[len(text_so_far) :])
        complete = finished or (matcher is not None and matcher.is_terminated())
        return Generation(
            text=text,
            model=self.model_version,
            prompt_tokens=len(prompt),
            completion_tokens=len(generated),
            seconds=time.perf_counter() - started,
            finish_reason="stop" if complete else "length",
        )

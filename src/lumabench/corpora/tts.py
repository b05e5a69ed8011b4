"""Three real text-to-speech engines behind one call: synthesise a batch of sentences for one voice.

Every engine returns 16 kHz mono int16 audio. espeak-ng runs through its shared library so its own
word events (start sample of each word) give reference word timings; festival reports the start and
end of each word from its utterance structure; flite prints no word times, so its rows carry none.

espeak-ng keeps synthesis state (glottal phase, echo buffer) between sentences, so its output for a
sentence depends on the sentences spoken before it in the same process. A batch therefore always
runs in a fresh process, in a fixed order, which makes every file reproducible.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from lumabench.errors import MissingDependencyError
from lumabench.params import SAMPLE_RATE

ESPEAK_WPM = 140  # espeak-ng's default of 175 words/min is brisk; its short words then fall under 0.15 s
ENGINE_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival"}
FESTIVAL_VOICE_PACKAGES = {"kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k"}


@dataclass(frozen=True)
class Utterance:
    """One sentence to speak: text, speaking-rate factor (1 = engine default) and pitch shift."""

    text: str
    rate: float = 1.0
    pitch: float = 0.0  # -1..1, relative to the voice's default (espeak-ng only)


@dataclass
class Spoken:
    """Synthesised audio (16 kHz int16) and the engine's word timings, if it gives them."""

    audio: np.ndarray
    words: list[tuple[str, float, float]] | None


def resample(x: np.ndarray, rate_in: int, rate_out: int, guard: int = 256) -> np.ndarray:
    """Band-limited resampling in the frequency domain (Fourier interpolation).

    The spectrum is cut (or zero-extended) at the lower Nyquist rate, with a short raised-cosine
    roll-off over the top 4 % of the kept band to limit ringing, so downsampling cannot alias.
    Zero guards on both ends keep the circular FFT from wrapping the end onto the start. Pure
    numpy: worker processes need not import scipy.signal, and the result is deterministic.
    """
    x = np.asarray(x, dtype=np.float64)
    if rate_in == rate_out or len(x) == 0:
        return x
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    n = len(x)
    guard = -(-guard // down) * down  # whole output samples, so the output is not shifted
    n_pad = -(-(n + 2 * guard) // down) * down  # a multiple of `down` so the output length is exact
    padded = np.zeros(n_pad)
    padded[guard : guard + n] = x
    m = n_pad * up // down
    spec = np.fft.rfft(padded)
    keep = min(len(spec), m // 2 + 1)
    out_spec = np.zeros(m // 2 + 1, dtype=complex)
    out_spec[:keep] = spec[:keep]
    roll = max(1, keep // 25)
    out_spec[keep - roll : keep] *= 0.5 * (1 + np.cos(np.linspace(0, np.pi, roll)))
    y = np.fft.irfft(out_spec, m) * (m / n_pad)
    start = guard * up // down
    return y[start : start + -(-n * up // down)]


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono 16 kHz int16 from int16/float audio at any rate."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    x = resample(x, rate, SAMPLE_RATE)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _clean(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalpha() or ch == "'")


# ---------------------------------------------------------------- espeak-ng (shared library)
class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 1
_EV_WORD, _EV_END, _EV_PHONEME = 1, 5, 7
_RATE, _PITCH = 1, 3
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


def _espeak_library() -> tuple[ctypes.CDLL, bytes | None]:
    """The system libespeak-ng (Debian libespeak-ng1), else the copy shipped by espeakng-loader."""
    name = ctypes.util.find_library("espeak-ng")
    if name:
        return ctypes.CDLL(name), None
    try:
        import espeakng_loader  # type: ignore[import-not-found]

        return ctypes.CDLL(espeakng_loader.get_library_path()), espeakng_loader.get_data_path().encode()
    except (ImportError, OSError):
        raise MissingDependencyError(
            "the espeak-ng library is not installed", fix="apt-get install espeak-ng (or pip install espeakng-loader)"
        ) from None


class Espeak:
    """espeak-ng in synchronous mode; collects audio and word/phoneme events per sentence."""

    def __init__(self, seed: int) -> None:
        self.lib, data = _espeak_library()
        self.rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INIT_PHONEME_EVENTS)
        if self.rate <= 0:
            raise MissingDependencyError("espeak-ng could not load its data", fix="apt-get install espeak-ng-data")
        # espeak-ng draws breath noise from libc rand(): seed it so output does not depend on the process
        ctypes.CDLL(None).srand(ctypes.c_uint(seed % 2**32))
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        self._cb = _CALLBACK(self._collect)
        self.lib.espeak_SetSynthCallback(self._cb)

    def _collect(self, wav: ctypes.Array, n: int, events: ctypes.Array) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != 0:
            e = events[i]
            self._events.append((e.type, e.text_position, e.length, e.sample, bytes(e.id)))
            i += 1
        return 0

    def voice(self, name: str) -> None:
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise MissingDependencyError(
                f"espeak-ng has no voice {name!r}",
                fix="name a voice from `espeak-ng --voices=en` (+variant), or apt-get install espeak-ng-data",
            )

    def say(self, utt: Utterance) -> Spoken:
        self._chunks, self._events = [], []
        self.lib.espeak_SetParameter(_RATE, round(ESPEAK_WPM * utt.rate), 0)
        self.lib.espeak_SetParameter(_PITCH, round(50 + 25 * utt.pitch), 0)
        text = utt.text.encode("utf-8")
        self.lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return Spoken(to_16k(audio, self.rate), self._word_times(text, len(audio)))

    def _word_times(self, text: bytes, n: int) -> list[tuple[str, float, float]]:
        """Word start = its word event; end = next word event, first pause phoneme, or the end.

        espeak-ng sometimes speaks two words as one (e.g. "a while") and then reports a text
        position inside the previous word, so events are matched to the transcript's words in
        order: each event takes the word at its reported position or, if that word is taken, the
        next free one, and covers every word up to the next event's word.
        """
        decoded = text.decode("utf-8", "replace")
        tokens = [(m.start(), m.end(), _clean(m.group())) for m in re.finditer(r"\S+", decoded)]
        tokens = [t for t in tokens if t[2]]
        starts = [(pos, sample) for t, pos, _, sample, _ in self._events if t == _EV_WORD]
        pauses = sorted(s for t, _, _, s, name in self._events if t == _EV_PHONEME and name.startswith(b"_"))
        ends = [s for t, _, _, s, _ in self._events if t == _EV_END] or [n]
        assigned: list[tuple[int, int]] = []  # (token index, start sample)
        for pos, sample in starts:
            k = next((i for i, (a, b, _) in enumerate(tokens) if pos - 1 < b), len(tokens))
            k = max(k, assigned[-1][0] + 1 if assigned else 0)
            if k < len(tokens):
                assigned.append((k, sample))
        out = []
        for i, (k, start) in enumerate(assigned):
            last = assigned[i + 1][0] if i + 1 < len(assigned) else len(tokens)
            nxt = assigned[i + 1][1] if i + 1 < len(assigned) else ends[-1]
            stop = min([nxt, *[p for p in pauses if p > start]]) if last - k == 1 else nxt
            word = " ".join(t[2] for t in tokens[k:last])
            out.append((word, start / self.rate, max(start, stop) / self.rate))
        return out


# ---------------------------------------------------------------- flite (command line)
def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pkg = ENGINE_PACKAGES[binary]
        raise MissingDependencyError(f"the {binary} speech engine is not installed", fix=f"apt-get install {pkg}")
    return path


def flite_voices() -> list[str]:
    """Voices this flite build knows (`flite -lv`)."""
    out = subprocess.run([_need("flite"), "-lv"], capture_output=True, text=True, check=True).stdout
    return out.split(":", 1)[-1].split()


def flite_say(voice: str, utt: Utterance, tmp: Path) -> Spoken:
    wav = tmp / "flite.wav"
    cmd = [_need("flite"), "-voice", voice, "--setf", f"duration_stretch={1.0 / utt.rate:.4f}"]
    subprocess.run([*cmd, "-t", utt.text, "-o", str(wav)], check=True, capture_output=True)
    audio, rate = sf.read(wav, dtype="int16")
    return Spoken(to_16k(audio, rate), None)


# ---------------------------------------------------------------- festival (one Scheme script per batch)
_FESTIVAL_DUMP = """
(define (lumabench_dump utt)
  (mapcar (lambda (w)
     (format t "W\\t%s\\t%f\\t%f\\n" (item.name w)
        (item.feat w "R:SylStructure.daughter1.daughter1.R:Segment.p.end")
        (item.feat w "R:SylStructure.daughtern.daughtern.R:Segment.end")))
    (utt.relation.items utt 'Word)))
"""


def festival_voices() -> list[str]:
    root = Path("/usr/share/festival/voices")
    return sorted(p.name for p in root.glob("*/*") if p.is_dir())


def festival_say(voice: str, utts: list[Utterance], tmp: Path) -> list[Spoken]:
    """Speak a batch in one festival process; word start/end come from the Segment relation."""
    exe = _need("festival")
    if voice not in festival_voices():
        pkg = FESTIVAL_VOICE_PACKAGES.get(voice, "a festvox-* voice package")
        raise MissingDependencyError(f"festival has no voice {voice!r}", fix=f"apt-get install {pkg}")
    lines = [f"(voice_{voice})", _FESTIVAL_DUMP]
    for i, u in enumerate(utts):
        if '"' in u.text or "\\" in u.text:
            raise ValueError(f"sentence {u.text!r} cannot be quoted for festival")
        lines += [
            f"(Parameter.set 'Duration_Stretch {1.0 / u.rate:.4f})",
            f'(set! u (utt.synth (Utterance Text "{u.text}")))',
            f'(utt.save.wave u "{tmp / f"f{i}.wav"}" \'riff)',
            f'(format t "U\\t{i}\\n")',
            "(lumabench_dump u)",
        ]
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n", "utf-8")
    res = subprocess.run([exe, "--batch", str(script)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"festival failed: {res.stderr.strip()[-500:]}")
    words: dict[int, list[tuple[str, float, float]]] = {}
    current = -1
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "U":
            current = int(parts[1])
            words[current] = []
        elif parts[0] == "W" and current >= 0 and _clean(parts[1]):
            words[current].append((_clean(parts[1]), float(parts[2]), float(parts[3])))
    out = []
    for i in range(len(utts)):
        audio, rate = sf.read(tmp / f"f{i}.wav", dtype="int16")
        out.append(Spoken(to_16k(audio, rate), words.get(i, [])))
    return out


def synthesise(engine: str, voice: str, utts: list[Utterance], seed: int) -> list[Spoken]:
    """Speak `utts` in order with one engine and voice (call in a fresh process for espeak-ng)."""
    with tempfile.TemporaryDirectory(prefix="lumabench-tts-") as d:
        tmp = Path(d)
        if engine == "espeak-ng":
            es = Espeak(seed)
            es.voice(voice)
            return [es.say(u) for u in utts]
        if engine == "flite":
            if voice not in flite_voices():
                raise MissingDependencyError(f"flite has no voice {voice!r}", fix="apt-get install flite")
            return [flite_say(voice, u, tmp) for u in utts]
        if engine == "festival":
            return festival_say(voice, utts, tmp)
    raise ValueError(f"unknown speech engine {engine!r}")


def check_engine(engine: str) -> None:
    """Fail early, with the Debian package to install, when an engine is missing."""
    if engine == "espeak-ng":
        _espeak_library()
    else:
        _need(engine)

"""Inbound keywords (STOP / START / HELP) and opt-out footers. Pure: no I/O, no clock.

A keyword matches only when it is the *whole* text of the inbound message, compared after
:func:`normalise` (case, accents, whitespace and punctuation do not count): "Stop.", " STOP ",
"stop!" and "S T O P" opt out; "Please don't stop my order" does not. This is the rule carriers
apply (CTIA short-code handbook: the keyword must be the message) and it keeps a customer's
sentence from being read as a command.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final, Literal

__all__ = [
    "DEFAULT_FOOTERS",
    "DEFAULT_HELP",
    "DEFAULT_OPTIN",
    "DEFAULT_OPTOUT",
    "Keyword",
    "KeywordMatcher",
    "footer_for",
    "normalise",
]

Keyword = Literal["optout", "optin", "help"]

# Word lists per language. Spelled as people type them; normalise() folds case and accents,
# so "ARRÊT", "arret" and "Arrêt!" are one word. A word may appear in one list only.
DEFAULT_OPTOUT: Final[Mapping[str, tuple[str, ...]]] = {
    "en": (
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPTOUT",
        "OPT OUT",
        "REVOKE",
    ),
    "ru": ("СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА", "ОТМЕНА", "ХВАТИТ"),
    "fr": ("ARRÊT", "ARRÊTER", "STOP SMS", "DÉSABONNER", "DÉSINSCRIRE", "DÉSINSCRIPTION", "FIN"),
    "de": ("STOPP", "ABMELDEN", "ABBESTELLEN", "ENDE", "KÜNDIGEN"),
    "es": ("BAJA", "PARAR", "CANCELAR", "ALTO", "DETENER", "DARSE DE BAJA"),
    "pt": ("SAIR", "PARE", "DESCADASTRAR", "CANCELAR"),
    "pl": ("WYPISZ", "REZYGNUJĘ", "REZYGNACJA", "ANULUJ", "KONIEC"),
    "zh": ("TD", "退订", "取消订阅", "停止", "退出"),
}
DEFAULT_OPTIN: Final[Mapping[str, tuple[str, ...]]] = {
    "en": ("START", "UNSTOP", "YES", "SUBSCRIBE"),
    "ru": ("СТАРТ", "ПОДПИСАТЬСЯ", "ДА"),
    "fr": ("OUI", "ABONNER", "DÉMARRER"),
    "de": ("ANMELDEN", "JA"),
    "es": ("ALTA", "SÍ", "COMENZAR"),
    "pt": ("SIM", "ENTRAR", "VOLTAR"),
    "pl": ("TAK", "ZAPISZ"),
    "zh": ("订阅", "开始"),
}
DEFAULT_HELP: Final[Mapping[str, tuple[str, ...]]] = {
    "en": ("HELP", "INFO"),
    "ru": ("ПОМОЩЬ", "СПРАВКА", "ИНФО"),
    "fr": ("AIDE",),
    "de": ("HILFE",),
    "es": ("AYUDA",),
    "pt": ("AJUDA",),
    "pl": ("POMOC",),
    "zh": ("帮助",),
}

# Footers per country (ISO 3166 region of the destination). Kept in the GSM 7-bit alphabet
# where the language allows it (é, ñ, ü are in it; Polish ć, ą are not): a footer that forced
# UCS-2 would more than double the client's part count. Each names a word of the lists above.
DEFAULT_FOOTERS: Final[Mapping[str, str]] = {
    "": "Reply STOP to opt out",
    "RU": "Отписаться: СТОП",
    "BY": "Отписаться: СТОП",
    "KZ": "Отписаться: СТОП",
    "FR": "STOP SMS pour vous désabonner",
    "BE": "STOP SMS pour vous désabonner",
    "DE": "Abmelden: STOPP antworten",
    "AT": "Abmelden: STOPP antworten",
    "CH": "Abmelden: STOPP antworten",
    "ES": "Responde BAJA para no recibir más",
    "MX": "Responde BAJA para no recibir más",
    "AR": "Responde BAJA para no recibir más",
    "CO": "Responde BAJA para no recibir más",
    "PT": "Responda SAIR para cancelar",
    "BR": "Responda SAIR para cancelar",
    "PL": "Wyslij STOP, aby zrezygnowac",
    "CN": "回复TD退订",
}


def normalise(text: str) -> str:
    """Fold ``text`` for comparison: compatibility forms (full-width letters), accents dropped,
    case folded, and everything but letters and digits removed (spaces, punctuation, emoji)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        ch for ch in decomposed.casefold() if ch.isalnum() and not unicodedata.combining(ch)
    )


class KeywordMatcher:
    """Classifies inbound texts; built once from config.

    ``replace`` False (the default) extends the built-in lists with the configured words;
    True uses the configured words alone. Raises ValueError when one word would mean two things.
    """

    def __init__(
        self,
        optout: Iterable[str] = (),
        optin: Iterable[str] = (),
        help_words: Iterable[str] = (),
        *,
        replace: bool = False,
    ) -> None:
        self._words: dict[str, Keyword] = {}
        lists: tuple[tuple[Keyword, Iterable[str], Mapping[str, tuple[str, ...]]], ...] = (
            ("optout", optout, DEFAULT_OPTOUT),
            ("optin", optin, DEFAULT_OPTIN),
            ("help", help_words, DEFAULT_HELP),
        )
        for kind, extra, defaults in lists:
            words = list(extra)
            if not replace:
                words += [w for lang in defaults.values() for w in lang]
            for word in words:
                key = normalise(word)
                if not key:
                    raise ValueError(f"keyword {word!r} has no letters or digits")
                seen = self._words.get(key)
                if seen is not None and seen != kind:
                    raise ValueError(f"keyword {word!r} is both an {seen} and an {kind} word")
                self._words[key] = kind
        configured = {normalise(w) for w in optout}
        self._instruction = frozenset(
            k
            for k, v in self._words.items()
            if v == "optout" and (k in configured or k in _INSTRUCTION_WORDS)
        )
        self._longest = max((len(k) for k in self._words), default=0)

    def classify(self, text: str) -> Keyword | None:
        """The keyword the whole text is, or None."""
        # Anything much longer than the longest keyword cannot match: skip the fold.
        if len(text) > 4 * self._longest + 16:
            return None
        return self._words.get(normalise(text))

    def mentions_optout(self, text: str) -> bool:
        """True when ``text`` already tells the reader how to opt out, so no footer is added.

        That is: an instruction word written in capitals as a word of its own ("Reply STOP",
        "СТОП"; "Stop by our shop" is not one), "opt out" or "unsubscribe" anywhere, or, for
        scripts written without spaces, the word anywhere ("回复TD退订").
        """
        for token in text.split():
            word = _strip(token)
            if word and word.isupper() and word.casefold() in self._instruction:
                return True
        folded = normalise(text)
        if "optout" in folded or "unsubscribe" in folded:
            return True
        return any(_is_cjk(w) and w in folded for w in self._instruction)


# Opt-out words that read as an instruction when written in capitals; everyday words of the
# lists (END, FIN, CANCEL, ALTO) are not among them, so "FIN DE SAISON" still gets a footer.
_INSTRUCTION_WORDS: Final = frozenset(
    normalise(w)
    for w in (
        "STOP",
        "STOPP",
        "STOPALL",
        "UNSUBSCRIBE",
        "OPTOUT",
        "СТОП",
        "ОТПИСАТЬСЯ",
        "BAJA",
        "SAIR",
        "WYPISZ",
        "ABMELDEN",
        "DÉSABONNER",
        "TD",
        "退订",
    )
)


def _strip(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def _is_cjk(word: str) -> bool:
    return all(ord(ch) >= 0x2E80 for ch in word)


def footer_for(country: str, configured: Mapping[str, str]) -> str:
    """The footer for a destination country: configured text first (by country, then ``""``
    as everyone else's), else the built-in one. An empty configured text means no footer."""
    for table in (configured, DEFAULT_FOOTERS):
        if country in table:
            return table[country]
    for table in (configured, DEFAULT_FOOTERS):
        if "" in table:
            return table[""]
    return ""

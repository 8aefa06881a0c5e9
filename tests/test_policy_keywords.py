"""Inbound keywords and footers: whole-text matches in eight languages, nothing else."""

from __future__ import annotations

import pytest

from smsgw.queue.consent.keyword_matching import (
    DEFAULT_FOOTERS,
    DEFAULT_HELP,
    DEFAULT_OPTIN,
    DEFAULT_OPTOUT,
    KeywordMatcher,
    footer_for,
    normalise,
)

MATCHER = KeywordMatcher()


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop. ",
        "stop!!!",
        "S T O P",
        "STOP\n",
        "ＳＴＯＰ",  # full-width, as some phones send it
        "Unsubscribe",
        "opt-out",
        "Opt out",
        "STOPALL",
        "стоп",  # Russian
        "Отписаться",
        "arrêt",  # French
        "ARRET",
        "Stop SMS",
        "Abmelden",  # German
        "STOPP",
        "Baja",  # Spanish
        "sair",  # Portuguese
        "Rezygnuję",  # Polish
        "rezygnuje",
        "退订",  # Chinese
        "TD",
    ],
)
def test_opt_out_words_in_every_language(text: str) -> None:
    assert MATCHER.classify(text) == "optout"


@pytest.mark.parametrize(
    "text", ["START", "unstop", "Yes", "да", "Oui", "ja", "Sí", "sim", "TAK", "订阅"]
)
def test_opt_in_words(text: str) -> None:
    assert MATCHER.classify(text) == "optin"


@pytest.mark.parametrize(
    "text", ["HELP", "help?", "Info", "помощь", "Aide", "HILFE", "ayuda", "ajuda", "pomoc", "帮助"]
)
def test_help_words(text: str) -> None:
    assert MATCHER.classify(text) == "help"


@pytest.mark.parametrize(
    "text",
    [
        "Please don't stop my order",
        "stop it",
        "STOP STOP",
        "where is my order?",
        "",
        "!!!",
        "stopp please",
        "Start my order",
        "x" * 10_000,
    ],
)
def test_sentences_are_not_keywords(text: str) -> None:
    assert MATCHER.classify(text) is None


def test_every_language_of_the_issue_has_all_three_lists() -> None:
    for table in (DEFAULT_OPTOUT, DEFAULT_OPTIN, DEFAULT_HELP):
        assert set(table) == {"en", "ru", "fr", "de", "es", "pt", "pl", "zh"}


def test_config_extends_the_lists() -> None:
    m = KeywordMatcher(optout=["Basta"], optin=["Ancora"], help_words=["Aiuto"])
    assert m.classify("basta!") == "optout"
    assert m.classify("ANCORA") == "optin"
    assert m.classify("aiuto") == "help"
    assert m.classify("STOP") == "optout"


def test_config_replaces_the_lists() -> None:
    m = KeywordMatcher(optout=["NOMORE"], optin=["MORE"], help_words=["WHAT"], replace=True)
    assert m.classify("no more") == "optout"
    assert m.classify("STOP") is None
    assert m.classify("help") is None


def test_a_word_with_two_meanings_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        KeywordMatcher(optin=["STOP"])
    with pytest.raises(ValueError, match="no letters"):
        KeywordMatcher(help_words=["?!"])


def test_normalise_folds_case_accents_spacing_and_punctuation() -> None:
    assert normalise("  Désinscrire!  ") == "desinscrire"
    assert normalise("ОТПИСКА") == "отписка"
    assert normalise("Opt-Out 🙏") == "optout"


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("Big sale! Reply STOP to opt out", True),
        ("Sale -20% today. STOP SMS au 36111", True),
        ("Stop by our shop today", False),
        ("FIN DE SAISON -50%", False),
        ("Cancel anytime, free returns", False),
        ("Скидки до 50%! СТОП - отписка", True),
        ("大促销 回复TD退订", True),
        ("Click here to unsubscribe", True),
        ("Your cart misses you", False),
    ],
)
def test_footer_is_not_added_twice(text: str, mentions: bool) -> None:
    assert MATCHER.mentions_optout(text) is mentions


def test_footers_per_country_and_configured_ones_first() -> None:
    assert footer_for("DE", {}) == DEFAULT_FOOTERS["DE"]
    assert footer_for("US", {}) == "Reply STOP to opt out"
    assert footer_for("US", {"": "Text STOP to quit"}) == "Text STOP to quit"
    assert footer_for("DE", {"DE": ""}) == ""
    assert footer_for("CN", {}) == "回复TD退订"


def test_every_built_in_footer_names_an_opt_out_word() -> None:
    for text in DEFAULT_FOOTERS.values():
        assert MATCHER.mentions_optout(text), text

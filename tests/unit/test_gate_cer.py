"""Character error rate for Mandarin: only what a listener hears differently is an error."""

from __future__ import annotations

import pytest

from ttsops.gate.cer import character_error_rate, normalize_chinese, units


def test_traditional_characters_score_as_their_simplified_forms() -> None:
    """Whisper writes traditional characters; the same words in them are no error."""
    assert character_error_rate("这件衣服很好看", "這件衣服很好看。") == 0.0


@pytest.mark.parametrize(
    ("reference", "heard"),
    [
        ("会议定在二零二四年三月十五日上午举行", "會議定在2024年3月15日上午舉行"),
        ("我是一九九八年出生的", "我是1998年出生的"),
        ("这件衣服打完折只要二百九十九元", "这件衣服打完折只要299元"),
        ("他在银行存了五万元", "他在銀行存了50,000元"),
        ("今年的销售额增长了百分之十二", "今年的銷售額增長了12%"),
        ("他跑完一百米只用了十一点五秒", "他跑完100米只用了11.5秒"),
        ("房租每个月三千五百块钱", "房租每个月三千五百块钱"),
        ("他有两个孩子", "他有二个孩子"),
        ("房间号是四零四", "房间号是四〇四"),
    ],
)
def test_numbers_in_digits_or_characters_are_the_same_words(reference: str, heard: str) -> None:
    """ "2024年" and "二零二四年", "12%" and "百分之十二" are one reading: no error."""
    assert character_error_rate(reference, heard) == 0.0


def test_full_width_digits_and_punctuation_do_not_count() -> None:
    """Full-width digits are digits; commas, stops and question marks are not heard."""
    assert character_error_rate("你明天下午有空吗", "你明天下午有空嗎？") == 0.0
    assert units("２０２４年，好！") == units("2024年好")
    assert normalize_chinese("Ｐｙｔｈｏｎ") == "python"


def test_a_latin_word_is_one_unit_whatever_its_spelling() -> None:
    """ "Wi-Fi", "WiFi" and "wifi" are one word; a wrong Latin word is one error, not five."""
    assert units("这家店的Wi-Fi密码") == ["这", "家", "店", "的", "wifi", "密", "码"]
    assert character_error_rate("我买了新的iPhone", "我買了新的 iphone") == 0.0
    assert character_error_rate("我买了新的iPhone", "我买了新的android") == pytest.approx(1 / 6)


def test_a_misread_number_costs_its_characters() -> None:
    """A wrong digit read is a wrong character: 一百 for 两百 is one error in six."""
    assert character_error_rate("他跑完两百米", "他跑完一百米") == pytest.approx(1 / 6)


def test_substitutions_deletions_and_insertions_over_reference_characters() -> None:
    """The rate is edits over the reference's units; silence is 1.0; insertions can pass 1."""
    assert character_error_rate("早上好", "早上好") == 0.0
    assert character_error_rate("早上好", "早安好") == pytest.approx(1 / 3)
    assert character_error_rate("早上好", "早好") == pytest.approx(1 / 3)
    assert character_error_rate("早上好", "") == 1.0
    assert character_error_rate("早上好", "早上好早上好早上好") == pytest.approx(2.0)


def test_a_reference_without_characters_is_refused() -> None:
    """An empty reference has nothing to score against: a clear ValueError."""
    with pytest.raises(ValueError, match="no characters"):
        character_error_rate("。！", "你好")


def test_homophones_whisper_picks_by_guess_are_one() -> None:
    """他/她/它 and 的/地/得 sound alike: Whisper's choice among them is not an error."""
    assert character_error_rate("他跑完一百米", "它跑完一百米") == 0.0
    assert character_error_rate("慢慢地走", "慢慢的走") == 0.0

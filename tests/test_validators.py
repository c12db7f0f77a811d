"""Identifier checks with real examples: what passes costs a billed call, what fails is caught for free."""

from __future__ import annotations

import pytest

from bot.trust.validators import (
    company_keyword_problem,
    looks_like_uscc,
    valid_id_number,
    valid_reg_number,
    valid_uscc,
)

XIAOMI_USCC = "91110108551385082Q"


def test_a_real_credit_code_is_valid_in_either_case() -> None:
    assert valid_uscc(XIAOMI_USCC)
    assert valid_uscc(XIAOMI_USCC.lower())


@pytest.mark.parametrize("last", [c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != "Q"])
def test_any_other_check_character_is_invalid(last: str) -> None:
    assert not valid_uscc(XIAOMI_USCC[:-1] + last)


@pytest.mark.parametrize(
    "value",
    ["9111010855138508", "91110108551385082Q1", "91110108551385O82Q", "91110108551385082I", ""],
)
def test_wrong_length_or_letters_outside_the_alphabet_are_invalid(value: str) -> None:
    assert not valid_uscc(value)


def test_a_changed_digit_is_caught() -> None:
    assert not valid_uscc("91110108551385083Q")


def test_resident_id_with_x_check_character() -> None:
    assert valid_id_number("11010519491231002X")
    assert valid_id_number("11010519491231002x")
    assert not valid_id_number("110105194912310021")


@pytest.mark.parametrize(
    "value",
    [
        "11010519491231002",  # 17 characters
        "1101051949123100X2",  # X not last
        "110105194913310023",  # month 13
        "110105209912310021",  # born in the future
    ],
)
def test_malformed_resident_ids_are_invalid(value: str) -> None:
    assert not valid_id_number(value)


def test_registration_number_check_digit() -> None:
    assert valid_reg_number("110108012660422")
    assert not valid_reg_number("110108012660423")
    assert not valid_reg_number("11010801266042")


def test_company_keyword_problems() -> None:
    assert company_keyword_problem("小米科技有限责任公司") is None
    assert company_keyword_problem(XIAOMI_USCC) is None
    assert company_keyword_problem("110108012660422") is None
    assert "统一社会信用代码" in (company_keyword_problem("91110108551385082A") or "")
    assert "注册号" in (company_keyword_problem("110108012660423") or "")
    assert "太短" in (company_keyword_problem("小米") or "")
    assert company_keyword_problem("   ")


def test_a_company_name_does_not_look_like_a_credit_code() -> None:
    assert looks_like_uscc(XIAOMI_USCC)
    assert not looks_like_uscc("小米科技有限责任公司")
    assert not looks_like_uscc("ABCDEFGHIJKLMNOPQR")

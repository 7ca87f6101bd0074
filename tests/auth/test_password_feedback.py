"""zxcvbn's feedback in the customer's language (app/auth/password_feedback.py): our list
holds every message the installed zxcvbn can give, each is translated in every shipped
language, and a message we do not know never puts English on another language's page."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import zxcvbn

from app.auth.password_feedback import ZXCVBN_MESSAGES, in_page_language
from app.auth.passwords import PasswordRejected, check_policy
from app.platform.i18n import shipped_locales, speaking


def zxcvbn_messages() -> set[str]:
    """Every string the installed zxcvbn's feedback module passes to gettext."""
    source = (Path(zxcvbn.__file__).parent / "feedback.py").read_text()
    return {node.args[0].value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_"
            and isinstance(node.args[0], ast.Constant)}


def test_the_list_is_zxcvbns_own():
    assert zxcvbn_messages() == set(ZXCVBN_MESSAGES)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_weak_password_is_explained_in_the_page_language(app):
    for code in shipped_locales():
        with app.test_request_context(), speaking(code):
            with pytest.raises(PasswordRejected) as refused:
                check_policy("abcabcabcabc")
            message = str(refused.value)
            repeats = in_page_language('Repeats like "abcabcabc" are only slightly harder '
                                       'to guess than "abc".')
            assert repeats and repeats in message
            assert (repeats == 'Repeats like "abcabcabc" are only slightly harder to guess '
                    'than "abc".') == (code == "en"), (code, repeats)
            # A message zxcvbn might add one day: English pages only.
            assert (in_page_language("Brand new advice.") == "Brand new advice.") == \
                (code == "en")

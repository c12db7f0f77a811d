"""Feishu's card JSON 2.0 rules, as one validator: the emulator runs it on every card it is sent, and tests call it.

Feishu refuses a card it cannot build with API code 230099 and a message of the shape
"Failed to create card content, ext=ErrCode: <n>; ErrMsg: <text>; ErrorValue: <where>". The outer code and that shape are
what users report for refused cards; the inner ErrCode numbers below are the ones users report for each kind of fault and
are not listed on a public doc page (unverified). Each rule names the public doc page it comes from; pages are cited by
their open.feishu.cn path under DOCS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

CARD_INVALID = 230099
# Inner codes (unverified, as users report them): a capability 2.0 dropped; a property or value the component rejects;
# a structural limit (nesting, count, uniqueness).
V1_ONLY = 200861
BAD_PROPERTY = 200621
BAD_STRUCTURE = 11310
# Codes Feishu answers for these faults (FEISHU.md, "Facts gathered for go-live and fidelity"): a table cell of the wrong
# type for its column, a row key that is no column, an unknown img_key, an invalid chart_spec, an @ of an unknown user.
CELL_TYPE = 200914
CELL_KEY = 200915
IMAGE_UNKNOWN = 200570
CHART_INVALID = 200550
AT_UNKNOWN_USER = 100290

DOCS = "https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/"
STRUCTURE_DOC = DOCS + "card-json-v2-structure"
BREAKING_DOC = DOCS + "card-json-v2-breaking-changes-release-notes"
COMPONENTS = DOCS + "card-json-v2-components/"

# Feishu's table component page: 单张卡片最多支持放置五个表格组件 (at most five tables in one card).
MAX_TABLES = 5
# Container pages (form, column_set, collapsible_panel): 容器类组件最多支持嵌套五层组件.
MAX_CONTAINER_DEPTH = 5
# Table page: page_size 支持 [1,10] 整数.
PAGE_SIZE = range(1, 11)
# Table page: format.precision, 数字类型列的小数点位数, 取值范围 [0,10].
PRECISION = range(0, 11)
# Each 2.0 component page: element_id 必须以字母开头，仅可使用字母、数字和下划线，不超过 20 个字符，同一张卡片内唯一.
ELEMENT_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}")
# 2.0 structure page: 单张卡片最多支持 200 个组件.
MAX_COMPONENTS = 200
# Rich text page: <at id=open_id></at> mentions a person (id=all: everyone); other attributes name a user otherwise.
AT_TAG = re.compile(r"<at\s+id\s*=\s*[\"']?([^\"'\s>]+)")


class CardViolation(Exception):
    """Why Feishu would refuse the card, and where (a JSON path such as body.elements[2].elements[0])."""

    def __init__(self, path: str, message: str, inner_code: int = BAD_PROPERTY) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message
        self.inner_code = inner_code

    @property
    def code(self) -> int:
        return CARD_INVALID

    @property
    def msg(self) -> str:
        return (
            f"Failed to create card content, ext=ErrCode: {self.inner_code}; "
            f"ErrMsg: {self.message}; ErrorValue: {self.path}"
        )

    def __str__(self) -> str:
        return self.msg


# Enumerations ------------------------------------------------------------------------------------------------------
# Title component page (card-json-v2-components/content-components/title): template colours.
HEADER_TEMPLATES = frozenset(
    "blue wathet turquoise green yellow orange red carmine violet purple indigo grey default".split()
)
# Button page (card-json-v2-components/interactive-components/button): type, size and form_action_type values.
BUTTON_TYPES = frozenset(
    "default primary danger text primary_text danger_text primary_filled danger_filled laser".split()
)
BUTTON_SIZES = frozenset({"tiny", "small", "medium", "large"})
FORM_ACTIONS = frozenset({"submit", "reset"})
# Table page: column data_type values.
TABLE_DATA_TYPES = frozenset({"text", "lark_md", "options", "number", "persons", "date", "markdown"})
# Input page: input_type values.
INPUT_TYPES = frozenset({"text", "multiline_text", "password"})
# 2.0 structure page: config.width_mode values.
WIDTH_MODES = frozenset({"compact", "fill", "default"})
# Column set page: flex_mode values.
FLEX_MODES = frozenset({"none", "stretch", "flow", "bisect", "trisect"})
TEXT_TAGS = frozenset({"plain_text", "lark_md"})
BEHAVIOR_TYPES = frozenset({"callback", "open_url"})

# Properties every 2.0 component accepts besides its own (each 2.0 component page lists element_id and margin as
# "JSON 2.0 新增属性").
COMMON = frozenset({"tag", "element_id", "margin"})
SPACING = frozenset(
    {"direction", "horizontal_spacing", "vertical_spacing", "horizontal_align", "vertical_align", "padding"}
)


@dataclass(frozen=True)
class Component:
    doc: str
    properties: frozenset[str]
    # Keys holding child components, and whether the component is a container (counts towards nesting depth).
    children: tuple[str, ...] = ()
    required: frozenset[str] = frozenset()
    interactive: bool = False


def _component(
    doc: str,
    properties: str,
    *,
    children: tuple[str, ...] = (),
    required: str = "",
    interactive: bool = False,
    extra: frozenset[str] = frozenset(),
) -> Component:
    return Component(
        COMPONENTS + doc,
        COMMON | frozenset(properties.split()) | frozenset(children) | extra,
        children,
        frozenset(required.split()),
        interactive,
    )


# Each 2.0 component page's JSON structure lists these properties; anything else is refused
# (breaking-changes page: 在 JSON 2.0 版本中，传入不支持的属性将报错).
COMPONENT_RULES: dict[str, Component] = {
    # containers/column-set: 支持内嵌除表单容器（form）和表格组件（table）外的其它所有组件.
    "column_set": _component(
        "containers/column-set",
        "horizontal_spacing horizontal_align flex_mode background_style action",
        children=("columns",),
    ),
    "column": _component(
        "containers/column-set",
        "background_style width weight action",
        children=("elements",),
        extra=SPACING,
    ),
    # containers/form-container: 表单容器不支持内嵌表格（table）和表单容器组件；只可放在卡片根节点下.
    "form": _component(
        "containers/form-container", "name", children=("elements",), required="name", extra=SPACING
    ),
    # containers/collapsible-panel: 折叠面板不支持内嵌表单容器（form）组件.
    "collapsible_panel": _component(
        "containers/collapsible-panel",
        "expanded background_color header border",
        children=("elements",),
        required="header",
        extra=SPACING,
    ),
    "interactive_container": _component(
        "containers/interactive-container",
        "width height background_style has_border border_color corner_radius behaviors disabled hover_tips "
        "disabled_tips confirm",
        children=("elements",),
        required="behaviors",
        extra=SPACING,
    ),
    # content-components/plain-text: the 2.0 text component is div with a text object.
    "div": _component("content-components/plain-text", "text icon width", required="text"),
    # content-components/rich-text: markdown, with text_size (notation replaces 1.0's note component).
    "markdown": _component(
        "content-components/rich-text", "content i18n_content text_align text_size icon", required="content"
    ),
    "hr": _component("content-components/divider", ""),
    "img": _component(
        "content-components/image",
        "img_key alt title corner_radius scale_type size transparent preview",
        required="img_key alt",
    ),
    "table": _component(
        "content-components/table",
        "page_size row_height row_max_height freeze_first_column header_style columns rows",
        required="columns rows",
    ),
    "chart": _component(
        "content-components/chart",
        "aspect_ratio color_theme chart_spec preview height",
        required="chart_spec",
    ),
    "button": _component(
        "interactive-components/button",
        "type size width text icon hover_tips disabled disabled_tips confirm behaviors name form_action_type",
        interactive=True,
    ),
    "input": _component(
        "interactive-components/input",
        "name required disabled placeholder default_value width max_length input_type show_icon rows "
        "auto_resize max_rows label label_position value confirm behaviors",
        interactive=True,
    ),
    "date_picker": _component(
        "interactive-components/date-picker",
        "name required disabled initial_date placeholder width confirm behaviors",
        interactive=True,
    ),
    "multi_select_static": _component(
        "interactive-components/multi-select-dropdown-menu",
        "type name required disabled placeholder width options selected_values confirm behaviors",
        interactive=True,
    ),
    "select_static": _component(
        "interactive-components/single-select-dropdown-menu",
        "type name required disabled initial_index initial_option placeholder width options confirm behaviors",
        interactive=True,
    ),
}

# Breaking-changes page: 2.0 no longer supports the 交互模块 (`action`) or 1.0's note component; a button's 1.0 `value`,
# `url`, `multi_url` are replaced by `behaviors`; the card's top-level `elements`, `i18n_elements` and `fallback` are gone.
V1_TAGS = {"action": "use buttons directly in elements", "note": "use markdown with text_size notation"}
V1_BUTTON_FIELDS = {"value": "behaviors", "url": "behaviors open_url", "multi_url": "behaviors open_url"}
V1_ROOT_FIELDS = frozenset({"elements", "i18n_elements", "fallback"})

ROOT_PROPERTIES = frozenset({"schema", "config", "card_link", "header", "body"})
CONFIG_PROPERTIES = frozenset(
    {
        "streaming_mode",
        "streaming_config",
        "summary",
        "locales",
        "enable_forward",
        "update_multi",
        "width_mode",
        "use_custom_translation",
        "enable_forward_interaction",
        "style",
    }
)
HEADER_PROPERTIES = frozenset(
    {"title", "subtitle", "text_tag_list", "i18n_text_tag_list", "template", "icon", "padding"}
)
BODY_PROPERTIES = frozenset({"elements"}) | SPACING
TEXT_PROPERTIES = frozenset(
    {"tag", "content", "i18n_content", "text_size", "text_color", "text_align", "lines"}
)
PANEL_HEADER_PROPERTIES = frozenset(
    {
        "title",
        "background_color",
        "vertical_align",
        "padding",
        "width",
        "icon",
        "icon_position",
        "icon_expanded_angle",
    }
)
TABLE_COLUMN_PROPERTIES = frozenset(
    {
        "name",
        "display_name",
        "width",
        "data_type",
        "vertical_align",
        "horizontal_align",
        "format",
        "date_format",
    }
)
NUMBER_FORMAT_PROPERTIES = frozenset({"precision", "symbol", "separator"})
OPTION_PROPERTIES = frozenset({"text", "value", "icon"})
BEHAVIOR_PROPERTIES = {
    "callback": frozenset({"type", "value"}),
    "open_url": frozenset({"type", "default_url", "android_url", "ios_url", "pc_url"}),
}
CONFIRM_PROPERTIES = frozenset({"title", "text"})


def validate_card(
    card: Any,
    *,
    known_user: Callable[[str], bool] | None = None,
    known_image: Callable[[str], bool] | None = None,
) -> None:
    """Raise CardViolation for the first rule the card breaks; return quietly when Feishu would accept it.

    `known_user` and `known_image` say whether the tenant has that open_id and img_key (the emulator passes its own);
    without them, mentions and images are checked for shape only."""
    _Checker(known_user, known_image).card(card)


def violation(card: Any) -> CardViolation | None:
    try:
        validate_card(card)
    except CardViolation as problem:
        return problem
    return None


class _Checker:
    def __init__(
        self,
        known_user: Callable[[str], bool] | None = None,
        known_image: Callable[[str], bool] | None = None,
    ) -> None:
        self.tables = 0
        self.components = 0
        self.names: dict[str, str] = {}
        self.element_ids: dict[str, str] = {}
        self.known_user = known_user
        self.known_image = known_image

    def card(self, card: Any) -> None:
        if not isinstance(card, dict):
            raise CardViolation("$", "card must be a JSON object")
        # 2.0 structure page: schema must be declared "2.0"; this bot sends 2.0 cards only.
        if card.get("schema") != "2.0":
            raise CardViolation("schema", 'schema must be "2.0"', V1_ONLY)
        for key in card:
            if key in V1_ROOT_FIELDS:
                raise CardViolation(
                    key, f"cards of schema V2 no longer support {key} ({BREAKING_DOC})", V1_ONLY
                )
        self._known(card, ROOT_PROPERTIES, "$")
        self._config(card.get("config"), "config")
        if "header" in card:
            self._header(card["header"], "header")
        body = card.get("body")
        if not isinstance(body, dict):
            raise CardViolation("body", "body must be an object holding elements")
        self._known(body, BODY_PROPERTIES, "body")
        elements = body.get("elements", [])
        self._elements(elements, "body.elements", depth=0, in_form=False)
        if self.tables > MAX_TABLES:
            # Table page: 单张卡片最多支持放置五个表格组件.
            raise CardViolation(
                "body.elements", f"{self.tables} tables, at most {MAX_TABLES} per card", BAD_STRUCTURE
            )

    # Card-level parts ----------------------------------------------------------------------------------------------
    def _config(self, config: Any, path: str) -> None:
        if config is None:
            return
        self._object(config, path)
        self._known(config, CONFIG_PROPERTIES, path)
        # Breaking-changes page: update_multi 仅支持设为 true.
        if config.get("update_multi", True) is not True:
            raise CardViolation(f"{path}.update_multi", "update_multi can only be true in 2.0", V1_ONLY)
        self._enum(config, "width_mode", WIDTH_MODES, path)

    def _header(self, header: Any, path: str) -> None:
        self._object(header, path)
        self._known(header, HEADER_PROPERTIES, path)
        if "title" not in header:
            raise CardViolation(f"{path}.title", "header needs a title")
        self._text(header["title"], f"{path}.title")
        if "subtitle" in header:
            self._text(header["subtitle"], f"{path}.subtitle")
        # Title page: template is one of the listed colours.
        self._enum(header, "template", HEADER_TEMPLATES, path)

    # Components ----------------------------------------------------------------------------------------------------
    def _elements(self, elements: Any, path: str, *, depth: int, in_form: bool) -> None:
        if not isinstance(elements, list):
            raise CardViolation(path, "elements must be an array")
        for index, element in enumerate(elements):
            self._element(element, f"{path}[{index}]", depth=depth, in_form=in_form)

    def _element(self, element: Any, path: str, *, depth: int, in_form: bool) -> None:
        self._object(element, path)
        self.components += 1
        if self.components > MAX_COMPONENTS:
            raise CardViolation(
                path, f"a card holds at most {MAX_COMPONENTS} components ({STRUCTURE_DOC})", BAD_STRUCTURE
            )
        self._element_id(element, path)
        tag = element.get("tag")
        if tag in V1_TAGS:
            raise CardViolation(
                f"{path}.tag", f"cards of schema V2 no longer support tag {tag}: {V1_TAGS[tag]}", V1_ONLY
            )
        rule = COMPONENT_RULES.get(tag) if isinstance(tag, str) else None
        if rule is None:
            raise CardViolation(f"{path}.tag", f"unknown component tag {tag!r} ({COMPONENTS})")
        if tag == "button":
            for field, instead in V1_BUTTON_FIELDS.items():
                if field in element:
                    raise CardViolation(
                        f"{path}.{field}",
                        f"cards of schema V2 no longer support button {field}: use {instead} ({BREAKING_DOC})",
                        V1_ONLY,
                    )
        self._known(element, rule.properties, path, doc=rule.doc)
        for field in sorted(rule.required - element.keys()):
            raise CardViolation(f"{path}.{field}", f"{tag} requires {field} ({rule.doc})")
        at_root = depth == 0
        if tag in ("table", "form") and not at_root:
            # Table page and form container page: 不可被内嵌在其它组件内，只可放在卡片根节点下.
            raise CardViolation(
                path, f"{tag} can only be placed at the card's body root ({rule.doc})", BAD_STRUCTURE
            )
        if rule.children and depth + 1 > MAX_CONTAINER_DEPTH:
            raise CardViolation(path, f"containers nest at most {MAX_CONTAINER_DEPTH} levels", BAD_STRUCTURE)
        self._name(element, path, tag, in_form=in_form, rule=rule)
        check = getattr(self, f"_check_{tag}", None)
        if check is not None:
            check(element, path)
        for key in rule.children:
            children = element.get(key, [])
            if tag == "column_set":
                # Columns are the set's own parts, not a nesting level of their own.
                self._columns(children, f"{path}.{key}", depth=depth, in_form=in_form)
            else:
                self._elements(children, f"{path}.{key}", depth=depth + 1, in_form=in_form or tag == "form")

    def _columns(self, columns: Any, path: str, *, depth: int, in_form: bool) -> None:
        if not isinstance(columns, list):
            raise CardViolation(path, "columns must be an array")
        for index, column in enumerate(columns):
            where = f"{path}[{index}]"
            self._object(column, where)
            if column.get("tag") != "column":
                raise CardViolation(f"{where}.tag", "a column_set holds only column containers")
            self._element(column, where, depth=depth, in_form=in_form)

    def _element_id(self, element: dict[str, Any], path: str) -> None:
        if "element_id" not in element:
            return
        element_id = element["element_id"]
        if not isinstance(element_id, str) or not ELEMENT_ID.fullmatch(element_id):
            raise CardViolation(
                f"{path}.element_id",
                "element_id starts with a letter and holds at most 20 letters, digits and underscores",
            )
        if element_id in self.element_ids:
            raise CardViolation(
                f"{path}.element_id",
                f"duplicate element_id {element_id!r}, already used at {self.element_ids[element_id]}",
                BAD_STRUCTURE,
            )
        self.element_ids[element_id] = path

    def _name(self, element: dict[str, Any], path: str, tag: str, *, in_form: bool, rule: Component) -> None:
        name = element.get("name")
        if rule.interactive and in_form and not name:
            # Form container page: interactive components in a form need a name, unique in the card.
            raise CardViolation(
                f"{path}.name", f"{tag} inside a form needs a name ({COMPONENTS}containers/form-container)"
            )
        if name is None:
            return
        if not isinstance(name, str) or not name:
            raise CardViolation(f"{path}.name", "name must be a non-empty string")
        if name in self.names:
            # Form container page: name 在同一张卡片内全局唯一 (forms and interactive components alike).
            raise CardViolation(
                f"{path}.name",
                f"duplicate name {name!r}, already used at {self.names[name]} ({COMPONENTS}containers/form-container)",
                BAD_STRUCTURE,
            )
        self.names[name] = path

    # Per-component checks (looked up by tag) -----------------------------------------------------------------------
    def _check_form(self, element: dict[str, Any], path: str) -> None:
        # Form container page: a form submits through a button with form_action_type "submit" (and a name).
        if not any(_is_submit(child) for child in _descendants(element)):
            raise CardViolation(
                path,
                f"a form needs a button with form_action_type submit ({COMPONENTS}containers/form-container)",
            )
        for child_path, child in _descendants_with_paths(element, path):
            if child.get("tag") in ("table", "form"):
                raise CardViolation(
                    child_path,
                    f"a form holds no {child.get('tag')} ({COMPONENTS}containers/form-container)",
                    BAD_STRUCTURE,
                )

    def _check_table(self, element: dict[str, Any], path: str) -> None:
        self.tables += 1
        if "page_size" in element and element["page_size"] not in PAGE_SIZE:
            raise CardViolation(f"{path}.page_size", "page_size must be an integer in [1, 10]")
        columns = element["columns"]
        if not isinstance(columns, list) or not columns:
            raise CardViolation(f"{path}.columns", "a table needs columns")
        keys: dict[str, str] = {}
        for index, column in enumerate(columns):
            where = f"{path}.columns[{index}]"
            self._object(column, where)
            self._known(column, TABLE_COLUMN_PROPERTIES, where)
            if not column.get("name"):
                raise CardViolation(f"{where}.name", "a table column needs a name")
            keys[column["name"]] = column.get("data_type", "text")
            self._enum(column, "data_type", TABLE_DATA_TYPES, where)
            if "format" in column:
                self._object(column["format"], f"{where}.format")
                self._known(column["format"], NUMBER_FORMAT_PROPERTIES, f"{where}.format")
                precision = column["format"].get("precision", 0)
                if isinstance(precision, bool) or precision not in PRECISION:
                    raise CardViolation(
                        f"{where}.format.precision", "precision must be an integer in [0, 10]"
                    )
        rows = element["rows"]
        if not isinstance(rows, list):
            raise CardViolation(f"{path}.rows", "rows must be an array")
        for index, row in enumerate(rows):
            self._object(row, f"{path}.rows[{index}]")
            for key, value in row.items():
                where = f"{path}.rows[{index}].{key}"
                if key not in keys:
                    raise CardViolation(
                        where, f"row key {key!r} is not a column ({rule_doc('table')})", CELL_KEY
                    )
                if not _cell_fits(keys[key], value):
                    raise CardViolation(
                        where, f"{value!r} is not a {keys[key]} cell ({rule_doc('table')})", CELL_TYPE
                    )

    def _check_button(self, element: dict[str, Any], path: str) -> None:
        self._enum(element, "type", BUTTON_TYPES, path)
        self._enum(element, "size", BUTTON_SIZES, path)
        self._enum(element, "form_action_type", FORM_ACTIONS, path)
        if "form_action_type" in element and not element.get("name"):
            raise CardViolation(f"{path}.name", "a form button with form_action_type needs a name")
        if "text" in element:
            self._text(element["text"], f"{path}.text")
        self._behaviors(element, path)
        self._confirm(element, path)

    def _check_input(self, element: dict[str, Any], path: str) -> None:
        self._enum(element, "input_type", INPUT_TYPES, path)
        for key in ("placeholder", "label"):
            if key in element:
                self._text(element[key], f"{path}.{key}")
        self._behaviors(element, path)
        self._confirm(element, path)

    def _check_select_static(self, element: dict[str, Any], path: str) -> None:
        if "placeholder" in element:
            self._text(element["placeholder"], f"{path}.placeholder")
        values: set[Any] = set()
        for index, option in enumerate(element.get("options", [])):
            where = f"{path}.options[{index}]"
            self._object(option, where)
            self._known(option, OPTION_PROPERTIES, where)
            if "text" not in option or "value" not in option:
                raise CardViolation(where, "an option needs text and value")
            self._text(option["text"], f"{where}.text")
            if option["value"] in values:
                raise CardViolation(f"{where}.value", f"duplicate option value {option['value']!r}")
            values.add(option["value"])
        self._behaviors(element, path)
        self._confirm(element, path)

    def _check_div(self, element: dict[str, Any], path: str) -> None:
        self._text(element["text"], f"{path}.text")

    def _check_markdown(self, element: dict[str, Any], path: str) -> None:
        if not isinstance(element["content"], str):
            raise CardViolation(f"{path}.content", "markdown content must be a string")
        self._mentions(element["content"], f"{path}.content")

    def _mentions(self, content: str, path: str) -> None:
        for user in AT_TAG.findall(content):
            if user != "all" and self.known_user is not None and not self.known_user(user):
                raise CardViolation(path, f"<at id={user}> names no user of the tenant", AT_UNKNOWN_USER)

    def _check_img(self, element: dict[str, Any], path: str) -> None:
        self._text(element["alt"], f"{path}.alt")
        key = element["img_key"]
        if (
            not isinstance(key, str)
            or not key
            or (self.known_image is not None and not self.known_image(key))
        ):
            raise CardViolation(f"{path}.img_key", f"img_key {key!r} is no uploaded image", IMAGE_UNKNOWN)

    def _check_chart(self, element: dict[str, Any], path: str) -> None:
        # Chart page: chart_spec is a VChart spec, an object naming the chart type and its data.
        spec = element["chart_spec"]
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("type"), str)
            or not isinstance(spec.get("data"), dict | list)
        ):
            raise CardViolation(f"{path}.chart_spec", "chart_spec needs a type and data", CHART_INVALID)

    def _check_multi_select_static(self, element: dict[str, Any], path: str) -> None:
        self._check_select_static(element, path)

    def _check_date_picker(self, element: dict[str, Any], path: str) -> None:
        if "placeholder" in element:
            self._text(element["placeholder"], f"{path}.placeholder")
        self._behaviors(element, path)
        self._confirm(element, path)

    def _check_collapsible_panel(self, element: dict[str, Any], path: str) -> None:
        header = element["header"]
        self._object(header, f"{path}.header")
        self._known(header, PANEL_HEADER_PROPERTIES, f"{path}.header")
        if "title" in header:
            title = header["title"]
            self._object(title, f"{path}.header.title")
            if title.get("tag") not in ("plain_text", "markdown"):
                raise CardViolation(f"{path}.header.title.tag", "a panel title is plain_text or markdown")

    def _check_column_set(self, element: dict[str, Any], path: str) -> None:
        self._enum(element, "flex_mode", FLEX_MODES, path)

    # Shapes --------------------------------------------------------------------------------------------------------
    def _behaviors(self, element: dict[str, Any], path: str) -> None:
        behaviors = element.get("behaviors")
        if behaviors is None:
            return
        if not isinstance(behaviors, list):
            raise CardViolation(f"{path}.behaviors", "behaviors must be an array")
        for index, behavior in enumerate(behaviors):
            where = f"{path}.behaviors[{index}]"
            self._object(behavior, where)
            kind = behavior.get("type")
            if kind not in BEHAVIOR_TYPES:
                raise CardViolation(f"{where}.type", f"unknown behavior type {kind!r}")
            self._known(behavior, BEHAVIOR_PROPERTIES[kind], where)

    def _confirm(self, element: dict[str, Any], path: str) -> None:
        if "confirm" in element:
            confirm = element["confirm"]
            self._object(confirm, f"{path}.confirm")
            self._known(confirm, CONFIRM_PROPERTIES, f"{path}.confirm")
            # Button page: confirm 二次确认弹窗, title 与 text 均为必填.
            for part in ("title", "text"):
                if part not in confirm:
                    raise CardViolation(f"{path}.confirm.{part}", f"confirm needs a {part}")
                self._text(confirm[part], f"{path}.confirm.{part}")

    def _text(self, text: Any, path: str) -> None:
        self._object(text, path)
        self._known(text, TEXT_PROPERTIES, path)
        if text.get("tag") not in TEXT_TAGS:
            raise CardViolation(f"{path}.tag", f"text tag must be one of {sorted(TEXT_TAGS)}")
        if not isinstance(text.get("content", ""), str):
            raise CardViolation(f"{path}.content", "text content must be a string")
        if text.get("tag") == "lark_md":
            self._mentions(text.get("content", ""), f"{path}.content")

    @staticmethod
    def _object(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise CardViolation(path, "expected a JSON object")

    @staticmethod
    def _known(value: dict[str, Any], allowed: frozenset[str], path: str, *, doc: str = BREAKING_DOC) -> None:
        for key in value:
            if key not in allowed:
                raise CardViolation(f"{path}.{key}", f"unsupported property {key!r} ({doc})")

    @staticmethod
    def _enum(value: dict[str, Any], key: str, allowed: frozenset[str], path: str) -> None:
        if key in value and value[key] not in allowed:
            raise CardViolation(f"{path}.{key}", f"{key} {value[key]!r} is not one of {sorted(allowed)}")


def rule_doc(tag: str) -> str:
    return COMPONENT_RULES[tag].doc


def _cell_fits(data_type: str, value: Any) -> bool:
    """Table page: a cell holds what its column's data_type says (number: a number; text kinds: a string; options: a
    list of {text, color}; persons: open_ids; date: a millisecond timestamp)."""
    if data_type in ("number", "date"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if data_type == "options":
        return isinstance(value, list) and all(isinstance(o, dict) and "text" in o for o in value)
    if data_type == "persons":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    return isinstance(value, str)


def _is_submit(element: dict[str, Any]) -> bool:
    return element.get("tag") == "button" and element.get("form_action_type") == "submit"


def _children(element: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    rule = COMPONENT_RULES.get(element.get("tag", ""))
    for key in rule.children if rule else ():
        for index, child in enumerate(element.get(key) or []):
            if isinstance(child, dict):
                yield f"{key}[{index}]", child


def _descendants_with_paths(element: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, child in _children(element):
        child_path = f"{path}.{key}"
        yield child_path, child
        yield from _descendants_with_paths(child, child_path)


def _descendants(element: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (child for _path, child in _descendants_with_paths(element, ""))


def walk(card: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every component of a card with its path: for the emulator, to find what a user clicked."""
    for index, element in enumerate(((card.get("body") or {}).get("elements")) or []):
        if isinstance(element, dict):
            path = f"body.elements[{index}]"
            yield path, element
            yield from _descendants_with_paths(element, path)

"""What a validation error cannot say by itself, declared with the models through pydantic's
validators, for gates.config.errors to quote: a key's rule (``rule("must be ...")``), the
keys a table has (``refuse_unknown_keys``), and a rule between tables (``refused_key``)."""

from pydantic import BaseModel, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

# Errors about a table (an entry of an array, or a table in a map) and a validator's own reason
SPEAK_FOR_THEMSELVES = {"model_type", "model_attributes_type", "value_error", "unknown_key"}
SPEAK_FOR_THEMSELVES |= {"union_tag_invalid", "union_tag_not_found"}


def rule(text: str) -> WrapValidator:
    """A key's rule: whatever is wrong with its value (a bound, an item of a list, a name in a
    map), the error says ``text``; those that speak for themselves are left as they are."""

    def check(value: object, handler: ValidatorFunctionWrapHandler) -> object:
        try:
            return handler(value)
        except ValidationError as exc:
            for error in exc.errors():  # past an entry's index or name, a str is a key in it
                in_a_table = any(isinstance(s, str) and s != "[key]" for s in error["loc"][1:])
                if in_a_table or error["type"] in SPEAK_FOR_THEMSELVES:
                    raise
            raise PydanticCustomError("rule", text) from None

    return WrapValidator(check)


def refuse_unknown_keys(model: type[BaseModel], data: object) -> object:
    """A model's before-validator: a key it does not declare is refused, naming the keys it has
    (not those it declares only to refuse them by name: ``exclude``)."""
    for key in data if isinstance(data, dict) else ():
        if key not in model.model_fields:
            keys = ", ".join(sorted(k for k, f in model.model_fields.items() if not f.exclude))
            title = model.model_config.get("title")
            has = f"a {title} has {keys}" if title else f"known keys: {keys}"
            context = {"key": repr(key), "has": has}
            raise PydanticCustomError("unknown_key", "unknown key {key} ({has})", context)
    return data


def refused_key(table: str, key: str, value: object, text: str) -> ValidationError:
    """The error of ``key`` in ``table``, one of the tables of the field being validated: a
    rule between its tables (two environments that share a port), worded ``<key> <text>``."""
    error = PydanticCustomError("value_error", "{error}", {"error": text})
    details = InitErrorDetails(type=error, loc=(table, key), input=value)
    return ValidationError.from_exception_data("refused", [details])

"""The knowledge base: roles, topics and self-service answers, read from YAML that coaches edit."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot import LANGUAGES, ROLES
from bot.domain.needs import Example, TrainingError, read_examples, training_files

Localized = dict[str, str]
PerLanguage = dict[str, list[str]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _has_all_languages(value: Localized, what: str) -> None:
    missing = [lang for lang in LANGUAGES if not value.get(lang)]
    if missing:
        raise ValueError(f"{what} lacks {', '.join(missing)}")


class Role(_Strict):
    id: str
    name: Localized
    helps_with: Localized


class Topic(_Strict):
    id: str
    role: str
    name: Localized
    keywords: PerLanguage = Field(default_factory=dict)
    weak: PerLanguage = Field(default_factory=dict)
    examples: PerLanguage = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Topic:
        _has_all_languages(self.name, f"topic {self.id} name")
        if self.role not in ROLES:
            raise ValueError(f"topic {self.id} has unknown role {self.role}")
        return self


class Answer(_Strict):
    id: str
    topic: str
    triggers: PerLanguage
    text: Localized

    @model_validator(mode="after")
    def _check(self) -> Answer:
        _has_all_languages(self.text, f"answer {self.id} text")
        return self


class Knowledge(_Strict):
    roles: dict[str, Role]
    topics: dict[str, Topic]
    answers: tuple[Answer, ...]
    stopwords: dict[str, frozenset[str]]
    training: tuple[Example, ...] = ()  # labelled questions the need model learns from


class KnowledgeError(Exception):
    """The knowledge folder cannot be used; the message names the file and the problem."""


# LibYAML's parser where PyYAML was built with it: the knowledge is read at every start, in a
# tenth of the pure-Python parser's 0.13 s of CPU, to the same data.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]  # a base chosen at import
    """YAML 1.1 reads `on`, `no` and `yes` as booleans; in word lists they are words."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"{path.name}: {exc}") from None
    if not isinstance(data, dict):
        raise KnowledgeError(f"{path.name}: expected a mapping at the top")
    return data


def load_knowledge(folder: Path) -> Knowledge:
    """Read and validate every file of the knowledge folder."""
    try:
        roles_data = _read(folder / "roles.yaml")["roles"]
        roles = {rid: Role(id=rid, **spec) for rid, spec in roles_data.items()}
        if set(roles) != set(ROLES):
            raise KnowledgeError(f"roles.yaml must define exactly {', '.join(ROLES)}")
        topics: dict[str, Topic] = {}
        for path in sorted((folder / "topics").glob("*.yaml")):
            data = _read(path)
            for spec in data.get("topics", []):
                topic = Topic(role=data["role"], **spec)
                if topic.id in topics:
                    raise KnowledgeError(f"{path.name}: topic id {topic.id} is used twice")
                topics[topic.id] = topic
        answers: list[Answer] = []
        for path in sorted((folder / "answers").glob("*.yaml")):
            for spec in _read(path).get("answers", []):
                answer = Answer(**spec)
                if answer.topic not in topics:
                    raise KnowledgeError(f"{path.name}: answer {answer.id} names unknown topic")
                answers.append(answer)
        stop = _read(folder / "stopwords.yaml")
        training = [example for path in training_files(folder) for example in read_examples(path)]
    except (ValidationError, KeyError, TypeError) as exc:
        raise KnowledgeError(f"{folder}: {exc}") from None
    except TrainingError as exc:
        raise KnowledgeError(f"training/{exc}") from None
    return Knowledge(
        roles=roles,
        topics=topics,
        answers=tuple(answers),
        stopwords={lang: frozenset(map(str.lower, stop.get(lang, []))) for lang in LANGUAGES},
        training=tuple(training),
    )

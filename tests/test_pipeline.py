"""The one pipeline (mockserver.app.pipeline): its diagram is its list, Connexion's own layers stand where
Connexion puts them, and a built fake's middleware is exactly the declared list's present layers, in order."""

from __future__ import annotations

import functools
import inspect

from connexion.middleware.main import ConnexionMiddleware

from mockserver.app import pipeline
from mockserver.app.build import ServerOptions, build_app
from mockserver.features.chaos import ChaosOptions
from mockserver.store.memory import Store
from mockserver.store.persistence import StateFile


def _names(middlewares) -> list[str]:
    return [(m.func if isinstance(m, functools.partial) else m).__name__ for m in middlewares]


def test_the_docstring_diagram_is_the_declared_list():
    doc = inspect.cleandoc(pipeline.__doc__)
    block = doc.split("::\n\n", 1)[1]
    assert inspect.cleandoc(block) == pipeline.diagram(), "regenerate the diagram: print(pipeline.diagram())"
    assert len(pipeline.diagram().splitlines()) == len(pipeline.PIPELINE)


def test_every_layer_has_a_unique_name_and_a_one_line_reason():
    names = [layer.name for layer in pipeline.PIPELINE]
    assert len(names) == len(set(names))
    for layer in pipeline.PIPELINE:
        assert layer.reason and "\n" not in layer.reason and len(layer.line()) < 130, layer.name
        assert (layer.make is not None) == (layer.where == pipeline.MIDDLEWARE), layer.name
    assert pipeline.PIPELINE[0].where == pipeline.SERVER and pipeline.PIPELINE[-1].where == pipeline.INSIDE


def test_connexions_own_layers_keep_connexions_order():
    declared = [layer.name for layer in pipeline.PIPELINE if layer.connexion]
    expected = [pipeline.CONNEXION_REPLACED.get(m.__name__, m.__name__) for m in ConnexionMiddleware.default_middlewares
                if m.__name__ not in pipeline.CONNEXION_LEFT_OUT]
    assert declared == expected, "Connexion's default stack changed: re-read connexion/middleware/main.py"


def test_a_built_fake_has_every_present_layer_in_the_declared_order(seed_document, tmp_path):
    everything = ServerOptions(admin_token="t", journal_size=10, chaos=ChaosOptions(latency_ms=(0, 1)),
                               allowed_hosts=())
    full = build_app(Store(seed_document), everything, state=StateFile(tmp_path / "state.json"),
                     embedder=lambda app: app)
    built = _names(full.app.middleware.middlewares)
    assert built[:2] == ["DurableAnswers", "<lambda>"]  # the embedder is the harness's own callable
    declared = [layer.name for layer in pipeline.PIPELINE if layer.where == pipeline.MIDDLEWARE]
    assert built[2:] == declared[2:]

    bare = build_app(Store(seed_document), ServerOptions(cors=False, journal_size=0))
    absent = {"DurableAnswers", "Embedder", "HostCheck", "Dashboard", "JournalMiddleware", "CoverageMiddleware",
              "MockCORSMiddleware", "AdminAPI"}
    assert _names(bare.app.middleware.middlewares) == [name for name in declared if name not in absent]


def test_no_middleware_is_added_outside_the_declared_list(seed_document):
    fake = build_app(Store(seed_document), ServerOptions(admin_token="t"))
    count = len(fake.app.middleware.middlewares)
    with fake.app.test_client() as client:  # builds the stack
        assert client.get("/__admin/status", headers={"Authorization": "Bearer t"}).status_code == 200
    assert len(fake.app.middleware.middlewares) == count

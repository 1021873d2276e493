"""The bundle's fraud models as one ONNX graph, so a precheck runs one session instead of three.

Each model's graph is copied in with its names prefixed by its role (``iforest_``, ``autoencoder_``,
``supervised_``); one input ``X`` feeds them all (an ``Identity`` per model), and the outputs are the
ones :mod:`plugins.fraud.scoring` reads, named ``<role>_<output>`` (``iforest_scores``,
``autoencoder_error``, ``supervised_probabilities``). The three models stay in the bundle too (the
converters evaluate them one by one); the node runs ``fraud_ensemble`` when the bundle has it.
"""

from __future__ import annotations

from pathlib import Path

MODEL_NAME = "fraud_ensemble"


def merged(files: dict, outputs: dict):
    """One ONNX model of the role → model file ``files``, exposing ``outputs[role]`` of each as ``<role>_<output>``."""
    import onnx
    from onnx import compose, helper

    nodes, initializers, value_info, opsets, ir_version, graph_outputs, graph_input = [], [], [], {}, 0, [], None
    for role, path in files.items():
        model = compose.add_prefix(onnx.load(str(path)), prefix=f"{role}_")
        graph = model.graph
        (own_input,) = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
        if graph_input is None:
            graph_input = helper.make_tensor_value_info("X", own_input.type.tensor_type.elem_type,
                                                        [None, own_input.type.tensor_type.shape.dim[1].dim_value])
        nodes.append(helper.make_node("Identity", ["X"], [own_input.name], name=f"{role}_feed"))
        nodes += list(graph.node)
        initializers += list(graph.initializer)
        value_info += list(graph.value_info)
        wanted = f"{role}_{outputs[role]}"
        graph_outputs += [o for o in graph.output if o.name == wanted]
        for opset in model.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        ir_version = max(ir_version, model.ir_version)
    graph = helper.make_graph(nodes, "fraud_ensemble", [graph_input], graph_outputs, initializer=initializers,
                              value_info=value_info)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
                              producer_name="storefront-edge")
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model


def write_ensemble(files: dict, out_path: Path) -> Path:
    """Write :func:`merged` of the trained model files (role → path) to ``out_path``."""
    from plugins.fraud.scoring import OUTPUTS

    Path(out_path).write_bytes(merged(files, OUTPUTS).SerializeToString())
    return Path(out_path)

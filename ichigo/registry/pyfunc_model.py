"""The registered pyfunc model, logged from code: MLflow stores this file, not a pickled Python
object, and runs it on load (`mlflow.pyfunc.load_model`). The profile to serve with comes from
the logged model_config (ichigo.registry.register)."""

from mlflow.models import set_model

from ichigo.registry.pyfunc import IchigoPyfunc

set_model(IchigoPyfunc())

"""Keep third-party libraries from reaching the network (DESIGN principle 4: offline by default).

NNCF and OpenVINO's model tools send usage telemetry through ``openvino_telemetry``; without a consent
file, NNCF counts that as consent (``enable_opt_in_dialog=False``), so an INT8 export would contact an
analytics host. edgeyolo declines on the user's behalf for its own process, without touching the
user's consent file (their own scripts keep whatever they chose).
"""

from __future__ import annotations

_DONE = False


def disable_vendor_telemetry() -> None:
    global _DONE
    if _DONE:
        return
    _DONE = True
    try:
        from openvino_telemetry.utils import opt_in_checker
    except ImportError:  # not installed: nothing to turn off
        return

    def check(self, enable_opt_in_dialog, disable_in_ci=False):  # same signature as OptInChecker.check
        return opt_in_checker.ConsentCheckResult.DECLINED

    opt_in_checker.OptInChecker.check = check
    try:  # a Telemetry singleton made before this call keeps its consent: revoke it too
        from openvino_telemetry import Telemetry

        instance = getattr(Telemetry, "_SingletonMetaClass__single_instance", None)
        if instance is not None:
            instance.consent = False
    except ImportError:
        pass

"""EC2 Query API dispatch: Action and Version, the model's parameter check,
DryRun, then the action under the state lock, answered in AWS's XML."""

from . import describe, mutate
from .query import Params, validate
from .util import API_VERSION, ApiError, ec2_response

ACTIONS = {
    "DescribeSnapshots": describe.describe_snapshots,
    "DescribeImages": describe.describe_images,
    "DescribeVolumes": describe.describe_volumes,
    "DescribeInstances": describe.describe_instances,
    "DescribeAvailabilityZones": describe.describe_availability_zones,
    "DescribeTags": describe.describe_tags,
    "CreateSnapshot": mutate.create_snapshot,
    "DeleteSnapshot": mutate.delete_snapshot,
    "CreateImage": mutate.create_image,
    "DeregisterImage": mutate.deregister_image,
    "CreateTags": mutate.create_tags,
    "DeleteTags": mutate.delete_tags,
    "StopInstances": mutate.stop_instances,
    "StartInstances": mutate.start_instances,
    "TerminateInstances": mutate.terminate_instances,
    "CreateVolume": mutate.create_volume,
    "RunInstances": mutate.run_instances,
}


class Api:
    def __init__(self, state, model, full_size=None):
        self.state = state
        self.model = model
        # fullSnapshotSizeInBytes where the service model's Snapshot has it, or when
        # asked for (the current API reference has it; older models do not)
        self.full_size_member = full_size if full_size is not None else \
            model.has_shape_member("Snapshot", "FullSnapshotSizeInBytes")

    def check(self, params):
        """-> the action name, or the API's error for a request it cannot take."""
        action = params.get("Action")
        if not action:
            raise ApiError("MissingAction", "The request must contain the parameter Action")
        if action not in self.model.actions():
            raise ApiError("InvalidAction", "The action %s is not valid for this web service."
                           % action)
        if not params.get("Version"):
            raise ApiError("MissingParameter", "The request must contain the parameter Version")
        if action not in ACTIONS:
            raise ApiError("UnsupportedOperation", "The action %s is not implemented by "
                           "ec2-emulator." % action)
        validate(self.model, action, params)
        return action

    def handle(self, params, rid):
        """-> (status, XML bytes); raises ApiError."""
        action = self.check(params)
        p = Params(params)
        if p.bool("DryRun"):
            raise ApiError("DryRunOperation", "Request would have succeeded, but DryRun flag "
                           "is set.", status=412)
        st = self.state
        with st.lock:
            st.advance()
            members = ACTIONS[action](self, p)
        version = params.get("Version") or API_VERSION
        return 200, ec2_response(action, rid, members, version)

"""The dev cluster's provider simulator: a process that plays a serverless provider for virtual nodes.

No cloud provider can be reached here, and kwok starts every pod at once, so a virtual node on kwok is
just a big node. This process plays the provider instead, for the virtual nodes kwok does not play:
it keeps them Ready (status heartbeat and node Lease), starts the pods bound to them at a token-bucket
launch rate and burst, refuses pods beyond a pod quota the way virtual-kubelet reports a provider's
refusal (reason ProviderFailed), completes pods after kwok's run annotation, and deletes terminating
pods at the end as a kubelet does. kwok keeps playing the regular nodes.

    python -m jobsched.devcluster.provider --kubeconfig K --launch-rate 20 --launch-burst 100 \
        --quota-pods 300 [--quota-pods-per-node 200] [--node-selector type=virtual-kubelet ...]

`jobsched dev-cluster up --virtual-launch-rate ...` starts it (jobsched.devcluster.cluster.start_provider
from code). It logs its counters once a second while they change.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import structlog

from jobsched.devcluster.provider.book import ProviderBook
from jobsched.devcluster.provider.limits import DEFAULT_NODE_SELECTORS, LimitsError, ProviderLimits
from jobsched.devcluster.provider.node_keeper import NodeKeeper
from jobsched.devcluster.provider.pod_player import PodPlayer
from jobsched.devcluster.provider.timers import Timers
from jobsched.devcluster.provider.write_queue import WriteQueue
from jobsched.kube.client import KubeClient
from jobsched.kube.informer import Informer

log = structlog.get_logger(__name__)

POD_WRITERS = 32
NODE_WRITERS = 4
SYNC_TIMEOUT_S = 60.0


async def _log_counters(player: PodPlayer, writes: WriteQueue, keeper: NodeKeeper) -> None:
    book = player.book
    last: tuple[object, ...] = ()
    while True:
        await anyio.sleep(1.0)
        s = book.stats
        now = (
            s.launched,
            s.refused,
            s.completed,
            s.released,
            player.deleted,
            book.queued,
            book.holding,
            writes.depth,
            len(keeper.nodes),
        )
        if now == last:
            continue
        last = now
        log.info(
            "provider",
            launched=s.launched,
            refused=s.refused,
            completed=s.completed,
            released=s.released,
            deleted=player.deleted,
            queued=book.queued,
            holding=book.holding,
            tokens=round(book.bucket.tokens(time.monotonic()), 1),
            writes_pending=writes.depth,
            write_failures=writes.failed,
            nodes=len(keeper.nodes),
        )


async def serve(kubeconfig: str, limits: ProviderLimits, ready_file: Path | None = None) -> None:
    """Plays the provider until cancelled (or SIGTERM/SIGINT)."""
    async with KubeClient.connect(kubeconfig, connections=POD_WRITERS + NODE_WRITERS + 4) as client:
        pod_writes = WriteQueue(client, POD_WRITERS)
        node_writes = WriteQueue(client, NODE_WRITERS)
        timers = Timers()
        book = ProviderBook(limits, time.monotonic())
        # The keeper tells the player which nodes are the provider's; the player asks it which are not.
        keeper = NodeKeeper(limits, node_writes, lambda added, removed: player.nodes_changed(added, removed))
        player = PodPlayer(book, keeper, pod_writes, timers)
        node_informer = Informer(client, "/api/v1/nodes", keeper, name="provider-nodes")
        pod_informer = Informer(
            client, "/api/v1/pods", player, params={"fieldSelector": "spec.nodeName!="}, name="provider-pods"
        )
        async with anyio.create_task_group() as tg:
            for task in (pod_writes.run, node_writes.run, timers.run, node_informer.run):
                tg.start_soon(task)
            with anyio.fail_after(SYNC_TIMEOUT_S):
                await node_informer.synced.wait()
            tg.start_soon(pod_informer.run)
            with anyio.fail_after(SYNC_TIMEOUT_S):
                await pod_informer.synced.wait()
            for task in (player.run, keeper.run):
                tg.start_soon(task)
            tg.start_soon(_log_counters, player, pod_writes, keeper)
            log.info("provider simulator ready", limits=limits.to_record(), nodes=sorted(keeper.nodes))
            if ready_file is not None:
                await anyio.Path(ready_file).write_text(f"{len(keeper.nodes)} nodes\n")
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    log.info("provider simulator stopping")
                    tg.cancel_scope.cancel()
                    break


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobsched.devcluster.provider", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument(
        "--launch-rate", type=float, default=20.0, help="pods started per second (token refill)"
    )
    parser.add_argument("--launch-burst", type=int, default=100, help="token bucket size")
    parser.add_argument(
        "--quota-pods", type=int, default=0, help="pods running or starting on the provider (0: none)"
    )
    parser.add_argument(
        "--quota-pods-per-node", type=int, default=0, help="the same per virtual node (0: none)"
    )
    parser.add_argument(
        "--node-selector",
        action="append",
        default=None,
        help=f"k=v[,k=v] labels of the nodes to play; repeatable, any may match (default: {' or '.join(DEFAULT_NODE_SELECTORS)})",
    )
    parser.add_argument("--heartbeat-seconds", type=float, default=10.0, help="node lease renewal period")
    parser.add_argument("--ready-file", type=Path, default=None, help="written once the informers synced")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        limits = ProviderLimits(
            launch_rate=args.launch_rate,
            launch_burst=args.launch_burst,
            quota_pods=args.quota_pods,
            quota_pods_per_node=args.quota_pods_per_node,
            node_selectors=tuple(args.node_selector or DEFAULT_NODE_SELECTORS),
            heartbeat_s=args.heartbeat_seconds,
        )
    except LimitsError as err:
        print(f"provider simulator: {err}", file=sys.stderr)
        return 2
    from jobsched.runtime import logs

    logs.configure(args.log_level, json=True)
    anyio.run(serve, args.kubeconfig, limits, args.ready_file, backend_options={"use_uvloop": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())

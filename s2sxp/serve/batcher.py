"""Dynamic batching: the sentences of requests that arrive together translated together.

Requests wait in one queue. The batcher takes the first, then whatever joins it within
``batch_wait`` milliseconds, until the batch holds ``batch_size`` sentences (a request's sentences
are never split), and translates each group of equal options in one call on its worker thread,
where the decoder puts sentences of similar lengths side by side; while it translates, the
next batch gathers. At most ``max_queue`` sentences wait: a request beyond them is refused at
once (:class:`QueueFull`), so that a burst never becomes an unbounded backlog.

A batch that fails is translated again request by request, so that the request at fault gets
its own error and every other its answer.
"""
import asyncio
import concurrent.futures
from dataclasses import dataclass, field


class QueueFull(RuntimeError):
    """Too many sentences wait already: the request is refused, to be sent again later."""


@dataclass
class Job:
    """One request's ``sentences``, translated as ``key`` says, answered through ``future``."""

    sentences: list
    key: object
    future: asyncio.Future = field(repr=False)


class Batcher:
    """The queue and the loop that cuts it into batches; ``translate(key, sentences)`` (called
    on one worker thread, never two at once) gives one answer per sentence. :meth:`start` in the
    server's event loop, :meth:`stop` when it ends; :meth:`submit` from its requests."""

    def __init__(self, translate, batch_size=64, batch_wait=0.005, max_queue=1024):
        self.translate, self.batch_size = translate, batch_size
        self.batch_wait, self.max_queue = batch_wait, max_queue
        self.waiting = 0                     # sentences in the queue
        self.working = 0                     # sentences being translated
        self.batches = 0
        self.queue = self.task = self.worker = None

    def start(self):
        self.queue = asyncio.Queue()
        self.worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="translate")
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self):
        """Every request queued so far answered, then the loop and its worker ended."""
        await self.queue.put(None)
        await self.task
        self.worker.shutdown()

    async def submit(self, sentences, key):
        """The answers to ``sentences`` translated as ``key`` says; QueueFull where the queue
        cannot take them, or what the translation raised."""
        if self.waiting + len(sentences) > self.max_queue:
            raise QueueFull(f"{self.waiting} sentences wait already (at most {self.max_queue})")
        job = Job(sentences, key, asyncio.get_running_loop().create_future())
        self.waiting += len(sentences)
        self.queue.put_nowait(job)
        return await job.future

    async def run(self):
        while True:
            jobs = await self.gather()
            if not jobs:
                return
            stopping = jobs[-1] is None
            jobs = [job for job in jobs if job is not None]
            count = sum(len(job.sentences) for job in jobs)
            self.waiting -= count
            self.working = count
            groups = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            for key, group in groups.items():
                await self.answer(key, group)
            self.working = 0
            self.batches += 1
            if stopping:
                return

    async def gather(self):
        """The next batch's jobs, in their order (None last where the queue was told to
        stop), or [] on stopping."""
        first = await self.queue.get()
        if first is None:
            return []
        jobs, count = [first], len(first.sentences)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_wait
        while count < self.batch_size:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), left)
                except asyncio.TimeoutError:
                    break
            jobs.append(job)
            if job is None:
                break
            count += len(job.sentences)
        return jobs

    async def answer(self, key, jobs):
        """Each job of ``jobs`` answered: the group translated in one call, or, where that
        fails, each job alone."""
        try:
            answers = await self.call(key, [s for job in jobs for s in job.sentences])
        except Exception as e:
            if len(jobs) == 1:
                return settle(jobs[0].future, error=e)
            for job in jobs:
                try:
                    settle(job.future, await self.call(key, job.sentences))
                except Exception as e:
                    settle(job.future, error=e)
            return
        at = 0
        for job in jobs:
            settle(job.future, answers[at:at + len(job.sentences)])
            at += len(job.sentences)

    def call(self, key, sentences):
        """``translate(key, sentences)`` on the worker thread, awaitable."""
        return asyncio.get_running_loop().run_in_executor(self.worker, self.translate, key,
                                                          sentences)


def settle(future, result=None, error=None):
    """``future`` given its result or error, unless its request has gone (cancelled)."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)

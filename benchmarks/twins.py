"""The PyTorch twins of our models, for timing side by side: the same architecture from PyTorch's
own layers (nn.Embedding, nn.LSTM/nn.GRU, batch first, cuDNN on a GPU; torch.bmm for attention;
nn.Linear; cross-entropy), trained with Adam and clip_grad_norm_ on the same batches.

A twin built with ``pad_id`` skips padding as our models do: the encoder runs on packed sequences
(``pack_padded_sequence``), attention scores of padded steps are masked, padded targets are
ignored by the loss. Without it (the book's fixed-width data) every id is a real token.
"""
import numpy

from .harness import EVAL_BATCH


def modules(torch):
    """{model family: twin class}, defined on the ``torch`` module given."""
    nn, F = torch.nn, torch.nn.functional
    pack, unpack = nn.utils.rnn.pack_padded_sequence, nn.utils.rnn.pad_packed_sequence

    def rnn_class(cell):
        return nn.LSTM if cell == "lstm" else nn.GRU

    class Encoder(nn.Module):
        def __init__(self, V, D, H, cell):
            super().__init__()
            self.cell = cell
            self.embed = nn.Embedding(V, D)
            self.rnn = rnn_class(cell)(D, H, batch_first=True)

        def forward(self, xs, lengths=None):
            """hs (N, T, H), zero past each row's length; h (N, H), the state at it; the mask
            (N, T) of real positions, or None where no row is padded."""
            T = xs.shape[1]
            if lengths is None:
                hs, state = self.rnn(self.embed(xs))
                mask = None
            else:
                packed = pack(self.embed(xs), lengths.cpu(), batch_first=True,
                              enforce_sorted=False)
                out, state = self.rnn(packed)
                hs, _ = unpack(out, batch_first=True, total_length=T)
                mask = torch.arange(T, device=xs.device)[None, :] < lengths[:, None]
            h = state[0] if self.cell == "lstm" else state
            return hs, h[0], mask

    def loss(score, ts, pad_id):
        return F.cross_entropy(score.reshape(-1, score.shape[-1]), ts[:, 1:].reshape(-1),
                               ignore_index=-100 if pad_id is None else pad_id)

    class Seq2seq(nn.Module):
        """Seq2seq, PeekySeq2seq or AttentionSeq2seq (``kind``) laid out as the book's: the
        decoder starts from the encoder's last real hidden state (and a zero cell state)."""

        def __init__(self, kind, V, D, H, cell, pad_id=None):
            super().__init__()
            self.kind, self.cell, self.H, self.pad_id = kind, cell, H, pad_id
            self.encoder = Encoder(V, D, H, cell)
            self.dec_embed = nn.Embedding(V, D)
            self.dec_rnn = rnn_class(cell)(H + D if kind == "peeky" else D, H, batch_first=True)
            self.affine = nn.Linear(H if kind == "seq2seq" else 2 * H, V)

        def encode(self, xs, lengths=None):
            hs, h, mask = self.encoder(xs, lengths)
            state = h[None].contiguous()                              # (1, N, H)
            if self.cell == "lstm":
                state = (state, torch.zeros_like(state))
            return hs, h, mask, state

        def decode(self, ids, hs_enc, h, mask, state):
            N, T = ids.shape
            x = self.dec_embed(ids)                                   # (N, T, D)
            if self.kind == "peeky":
                peek = h[:, None, :].expand(N, T, self.H)
                x = torch.cat((peek, x), dim=2)
            out, state = self.dec_rnn(x, state)                       # (N, T, H)
            if self.kind == "peeky":
                out = torch.cat((peek, out), dim=2)
            elif self.kind == "attention":
                scores = torch.bmm(out, hs_enc.transpose(1, 2))       # (N, T, T_enc)
                if mask is not None:
                    scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
                a = torch.softmax(scores, dim=2)
                out = torch.cat((torch.bmm(a, hs_enc), out), dim=2)
            return self.affine(out), state

        def forward(self, xs, ts, lengths=None):
            hs_enc, h, mask, state = self.encode(xs, lengths)
            score, _ = self.decode(ts[:, :-1], hs_enc, h, mask, state)
            return loss(score, ts, self.pad_id)

        def generate_batch(self, xs, start_id, sample_size):
            with torch.no_grad():
                hs_enc, h, mask, state = self.encode(xs)
                ids = torch.full((xs.shape[0], 1), start_id, dtype=torch.long, device=xs.device)
                sampled = []
                for _ in range(sample_size):
                    score, state = self.decode(ids, hs_enc, h, mask, state)
                    ids = score.argmax(dim=2)
                    sampled.append(ids)
                return torch.cat(sampled, dim=1)

    class Bahdanau(nn.Module):
        """BahdanauSeq2seq (default options): s_0 the sum of the real encoder states, additive
        attention queried by s_t, an nn.GRUCell/nn.LSTMCell on [context | embedding] one step
        at a time (the attention feeds every step's input)."""

        def __init__(self, kind, V, D, H, cell, pad_id=None):
            super().__init__()
            self.cell, self.pad_id = cell, pad_id
            self.encoder = Encoder(V, D, H, cell)
            self.dec_embed = nn.Embedding(V, D)
            self.W1, self.W2, self.W3 = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, 1)
            self.dec_cell = (nn.LSTMCell if cell == "lstm" else nn.GRUCell)(H + D, H)
            self.affine = nn.Linear(H, V)

        def encode(self, xs, lengths=None):
            hs, _, mask = self.encoder(xs, lengths)                   # zeros past lengths
            s0 = hs.sum(dim=1)
            state = (s0, torch.zeros_like(s0)) if self.cell == "lstm" else s0
            return hs, self.W1(hs), mask, state

        def step(self, ids, hs_enc, K, mask, state):
            """ids (N,) -> state after the step; the query is the state before it."""
            q = state[0] if self.cell == "lstm" else state
            e = self.W3(torch.tanh(K + self.W2(q)[:, None, :]))[:, :, 0]   # (N, T_enc)
            if mask is not None:
                e = e.masked_fill(~mask, float("-inf"))
            c = torch.bmm(torch.softmax(e, dim=1)[:, None, :], hs_enc)[:, 0, :]  # (N, H)
            return self.dec_cell(torch.cat((c, self.dec_embed(ids)), dim=1), state)

        def output(self, state):
            return state[0] if self.cell == "lstm" else state

        def forward(self, xs, ts, lengths=None):
            hs_enc, K, mask, state = self.encode(xs, lengths)
            outs = []
            for t in range(ts.shape[1] - 1):
                state = self.step(ts[:, t], hs_enc, K, mask, state)
                outs.append(self.output(state))
            return loss(self.affine(torch.stack(outs, dim=1)), ts, self.pad_id)

        def generate_batch(self, xs, start_id, sample_size):
            with torch.no_grad():
                hs_enc, K, mask, state = self.encode(xs)
                ids = torch.full((xs.shape[0],), start_id, dtype=torch.long, device=xs.device)
                sampled = []
                for _ in range(sample_size):
                    state = self.step(ids, hs_enc, K, mask, state)
                    ids = self.affine(self.output(state)).argmax(dim=1)
                    sampled.append(ids)
                return torch.stack(sampled, dim=1)

    return {"seq2seq": Seq2seq, "peeky": Seq2seq, "attention": Seq2seq, "bahdanau": Bahdanau}


#: The model families that have a PyTorch twin.
FAMILIES = ("seq2seq", "peeky", "attention", "bahdanau")


class Torch:
    """The PyTorch twin of one of our models (``pad_id``: see the module docstring), trained with
    Adam and clip_grad_norm_ on the same batches."""

    def __init__(self, torch, device, kind, cell, V, D, H, max_grad=5.0, seed=0, pad_id=None):
        torch.manual_seed(seed)
        self.torch, self.device, self.pad_id = torch, device, pad_id
        self.model = modules(torch)[kind](kind, V, D, H, cell, pad_id).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001)
        self.max_grad = max_grad

    def _ids(self, a):
        return self.torch.from_numpy(numpy.ascontiguousarray(a)).to(self.device, self.torch.long)

    def loss(self, x, t):
        lengths = None
        xs = self._ids(x)
        if self.pad_id is not None and (x == self.pad_id).any():
            lengths = (xs != self.pad_id).sum(dim=1)
        return self.model(xs, self._ids(t), lengths)

    def step(self, x, t):
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(x, t).backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad)
        self.optimizer.step()

    def evaluate(self, x, t):
        start_id, size = int(t[0, 0]), t.shape[1] - 1
        guesses = numpy.concatenate([
            self.model.generate_batch(self._ids(x[i:i + EVAL_BATCH]), start_id,
                                      size).cpu().numpy()
            for i in range(0, len(x), EVAL_BATCH)])
        return float((guesses == t[:, 1:]).all(axis=1).mean())

/* SPDX-License-Identifier: MIT */
/*
 * ring.pml - a Promela model of the ring protocol of libring
 * (docs/design/ring-protocol.md), checked with spin by tests/model/check.sh.
 *
 * Scale: a ring of CAP 8-byte words; positions count words, not bytes. Every
 * record is one header word and one payload word (span 2), which stands for
 * the whole header (word, timestamp, type) and payload the producer writes
 * between its header CAS and its commit CAS. The padding the maintainer
 * writes over zero words is one word long, like the 8-byte SKIPPED of the
 * real ring, so spans of 1 and 2 mix exactly as spans of 8 and more do.
 *
 * Spin explores every interleaving under sequential consistency. It checks
 * the protocol's logic, not its memory ordering: that the C11 orders in
 * libring/atomics.h give the interleavings assumed here is argued edge by
 * edge in docs/design/memory-ordering.md. One statement of this model is
 * one atomic access of the code; where a d_step groups several statements,
 * it holds one shared access and the local computation around it (or, for
 * a CAS, exactly what the CAS does).
 *
 * Processes:
 *   producer(0), producer(1)  claim, write, commit NREC records each; one
 *                             of them may die at any step or either may stall
 *                             for ever (no fairness is assumed, and the
 *                             maintainer may declare a live claim timed out
 *                             at any time); a full ring gives up the record
 *                             (-EAGAIN)
 *   gating_reader             registers while everything runs (or exists
 *                             from creation), reads every record in place and
 *                             holds reuse back
 *   ordinary_reader           copies and validates; never holds anyone back
 *   maintainer                ring_topic_maintain(), pass after pass: frontier
 *                             scan, repairs, gate, cleaning, limit; may die in
 *                             the middle of a pass, after which the next pass
 *                             (the next lease holder) starts afresh from what
 *                             is in shared memory
 *
 * Properties (assertions; a violation or an invalid end state fails):
 *   (a) a delivered record is exactly what its producer committed there,
 *       whole (no torn or stale payload);
 *   (b) per producer, records are delivered in order, never twice;
 *   (c) nothing a gating reader may still read, and no claim a live
 *       producer may still write into, is reused; a producer's header CAS
 *       and payload land only in zeroed space of their own lap;
 *   (d) every `oldest` the maintainer announces is a record boundary;
 *   (e) progress: once every producer has finished or died, one pass with
 *       no timeouts passes every claim (frontier == tail), the gating reader
 *       has every record committed after it registered, and no process is
 *       left blocked (spin's end-state check): the ring cannot wedge.
 *
 * Switches (spin -DNAME=value; check.sh names the configurations run, each
 * small enough to search exhaustively in seconds):
 *   CAP, NREC                 ring words, records per producer
 *   LATE_REGISTER             the gating reader registers while everything
 *                             runs (1) or exists from creation (0)
 *   GATING_READER, ORDINARY_READER   include that reader
 *   PRODUCER_DEATH, MAINTAINER_DEATH  allow that death
 *   MAXTMO                    claim timeouts the maintainer may declare
 *   MAXPASS                   maintenance passes while producers run (then
 *                             one final pass): a bound on the search
 */

#ifndef CAP
#define CAP 4
#endif
#ifndef NREC
#define NREC 2
#endif
#ifndef LATE_REGISTER
#define LATE_REGISTER 1
#endif
#ifndef GATING_READER
#define GATING_READER 1
#endif
#ifndef ORDINARY_READER
#define ORDINARY_READER 1
#endif
#ifndef MAXPASS
#define MAXPASS 2
#endif
#ifndef MAXTMO
#define MAXTMO 1
#endif
#ifndef PRODUCER_DEATH
#define PRODUCER_DEATH 1
#endif
#ifndef MAINTAINER_DEATH
#define MAINTAINER_DEATH 1
#endif

#define NPROD 2
#define SPAN 2			/* header word + payload word */
#define MAXCLAIM SPAN		/* the largest claim (the code: max_span) */
#define MAXATT 2		/* header CAS attempts per record (the code: 64) */
#define NONE 255		/* RING_POS_NONE */
#define ROUNDS 4		/* repairs per pass (the code: MAX_ROUNDS 8) */
#define MAXPOS 64		/* positions the ghost boundary map covers */
#define STALE (CAP + 2)		/* a freed gating slot's leftover position */

/* Header word: state:2 lap:3 slot:1 len:3, as layout.h's bit fields. */
#define EMPTY 0
#define CLAIMED 1
#define COMMITTED 2
#define SKIPPED 3
#define ST(w) ((w) >> 7)
#define LAPW(w) (((w) >> 4) & 7)
#define SLOT(w) (((w) >> 3) & 1)
#define LEN(w) ((w) & 7)
#define MK(s, l, sl, n) (((s) << 7) | ((l) << 4) | ((sl) << 3) | (n))
#define LAP(p) (((p) / CAP) & 7)
#define IDX(p) ((p) % CAP)
/* CLAIMED and SKIPPED carry the span; COMMITTED carries the payload length. */
#define SPANOF(w) (ST(w) == COMMITTED -> 1 + LEN(w) : LEN(w))
/* A word that a reader or the maintainer may trust at position p. */
#define DONE_AT(w, p) (ST(w) >= COMMITTED && LAPW(w) == LAP(p))
/*
 * The payload word of record s of producer p: non-zero, different for every
 * record, and with state bits 0, so that a payload read where a header was
 * expected is garbage and never a plausible header.
 */
#define PAYLOAD(p, s) (1 + (p) * 4 + (s))

/* ---- shared memory ---- */

short ring[CAP];		/* the data area; all zero at creation */
byte tail;			/* next position to claim (P1) */
byte limit = CAP;		/* claims end at or below it (P0 / M3) */
byte oldest;			/* announced start of reuse (M2 / C2) */
byte frontier;			/* the maintainer's own: all below is done */
byte claim_pos[NPROD] = NONE;	/* producer slots' intents (P5) */
bool g_owner;			/* the gating reader's slot (R1/R2) */
byte g_pos = STALE;		/* its position (G1/G2) */

/* ---- liveness, as the maintainer's /proc check sees it ---- */

bool dead[NPROD];
bool pdied;			/* a producer has died (at most one does) */
bool mdied;			/* the maintainer has died (at most once) */

/* ---- ghosts: bookkeeping for the assertions, invisible to the protocol ---- */

byte ended;			/* producers that finished or died */
bool maint_done;		/* the final maintenance pass is over */
byte committed_at[NPROD * NREC] = NONE;	/* where record (p, s) was committed */
bool g_registered;		/* the gating reader's registration succeeded */
byte g_from;			/* and the position it registered at */
bool boundary[MAXPOS];		/* positions where a claim or a skip starts */
bool writing[NPROD];		/* producer p may still write into its claim */

/*
 * A delivered record (header w at position pos, payload word v) must be
 * exactly a record its producer committed there, whole, and later in that
 * producer's sequence than anything this reader delivered before: (a), (b).
 */
inline check_record(w, v, pos)
{
	s = v - 1 - SLOT(w) * 4;
	assert(v >= 1 && s < NREC);			/* payload fully written, not torn */
	assert(committed_at[SLOT(w) * NREC + s] == pos);	/* committed here */
	assert(s >= nseq[SLOT(w)]);			/* in order, no duplicate */
	nseq[SLOT(w)] = s + 1;
	mask = mask | (1 << (SLOT(w) * NREC + s));
	s = 0
}

/* ---- producer ---- */

/*
 * Death at any instruction is death right after one of the producer's
 * shared writes: what it did in between is private. Of those points, the
 * ones that leave something for others to deal with are after the tail
 * CAS (a zero header), after the header CAS (a claim) and after the
 * payload (a written claim): the crash points of libring/producer.c. A
 * death before the tail CAS or after the commit leaves only the intent of
 * a dead slot, which nothing reads. So the producer may die, at most one
 * of the two, at each of those three points: the process is gone, and the
 * maintainer's /proc check says so from then on (seeing it alive a while
 * longer is the same as a later death).
 */
#define MAYDIE \
	if \
	:: PRODUCER_DEATH && !pdied -> \
		d_step { pdied = 1; dead[p] = 1; writing[p] = 0 }; goto out \
	:: true \
	fi

proctype producer(byte p)
{
	byte s, t, att;
	bool ok;

	do
	:: s < NREC ->
		att = 0;
retry:
		t = tail;			/* relaxed: the CAS re-checks it */
		if
		:: t + SPAN > limit ->		/* P0: full; -EAGAIN */
			claim_pos[p] = NONE;
			goto next
		:: else
		fi;
		claim_pos[p] = t;		/* P5: the intent, before P1 */
		d_step {			/* P1: CAS tail t -> t + SPAN */
			if
			:: tail == t ->
				tail = t + SPAN;
				boundary[t] = 1;
				boundary[t + SPAN] = 1;
				ok = 1
			:: else ->
				ok = 0
			fi
		}
		if
		:: !ok -> goto retry
		:: else
		fi;
		MAYDIE;				/* producer.after_tail */
		d_step {			/* P2: CAS header 0 -> CLAIMED */
			if
			:: ring[IDX(t)] == 0 ->
				/* (c): the CAS succeeds only on our own lap's
				 * zero, never on the word zeroed for a later
				 * lap: nothing at this index has been handed
				 * out again. */
				assert(limit <= t + CAP);
				ring[IDX(t)] = MK(CLAIMED, LAP(t), p, SPAN);
				writing[p] = 1;
				ok = 1
			:: else ->
				ok = 0
			fi
		}
		if
		:: !ok ->			/* repaired into padding: again */
			att++;
			if
			:: att < MAXATT -> goto retry
			:: else ->
				claim_pos[p] = NONE;
				goto next
			fi
		:: else
		fi;
		MAYDIE;				/* producer.after_header */
		d_step {			/* payload, timestamp, type */
			/* (c): our claim's bytes are ours: zero, and not
			 * handed out to a later lap. */
			assert(ring[IDX(t + 1)] == 0 && limit <= t + CAP);
			ring[IDX(t + 1)] = PAYLOAD(p, s)
		}
		MAYDIE;				/* producer.before_commit */
		d_step {			/* P3: CAS CLAIMED -> COMMITTED */
			if
			:: ring[IDX(t)] == MK(CLAIMED, LAP(t), p, SPAN) ->
				ring[IDX(t)] = MK(COMMITTED, LAP(t), p, 1);
				committed_at[p * NREC + s] = t
			:: else ->
				skip		/* repaired: -ETIMEDOUT */
			fi;
			writing[p] = 0
		}
		claim_pos[p] = NONE;		/* P5: claim_close */
next:
		s++
	:: else ->
		break
	od;
out:
	ended++
}

/* ---- maintainer ---- */

/*
 * The maintainer may die once, in a pass that is not the final one, after
 * it has announced `oldest` or zeroed a word of the space it is cleaning
 * (maintain.mid_clean): the next lease holder then starts a pass afresh
 * from what is in shared memory (the code takes a dead holder's lease
 * over). A death after a repair leaves nothing a later pass does not redo
 * anyway.
 */
#define MAYDIE_M \
	if \
	:: MAINTAINER_DEATH && !final && !mdied -> mdied = 1; goto pass_end \
	:: true \
	fi

/*
 * ring_topic_maintain(), pass after pass while producers run (at most
 * MAXPASS of them: a bound on the search, not on the protocol), then one
 * final pass. A pass is maintain_locked(): the frontier scan with repairs
 * (M1, M1b, M4, M5), gate_of() and late_writer_gate() (G3, M7),
 * clean_and_raise() (M2, the re-read of the gating slot, the zeroing, M3).
 * The final pass never declares a timeout: after every producer has ended,
 * dead owners alone must be enough to pass every claim.
 */
active proctype maintainer()
{
	byte f, t, pos, gate, target, l, rounds, passes, timeouts;
	short w;
	bool to, ok, final;

pass_start:
	if
	:: ended == NPROD -> final = 1
	:: ended < NPROD && passes < MAXPASS -> passes++
	fi;

	f = frontier;
	rounds = 0;
	do
	:: rounds >= ROUNDS ->
		break
	:: else ->
		t = tail;				/* M1 */
		/*
		 * frontier_scan(), M1b per word. One step: every word it walks
		 * over is final (only this maintainer changes a done word, by
		 * zeroing it, and not during the scan), so reading them all at
		 * the instant of the last read, the one that stops the scan,
		 * gives what the word-by-word reads give.
		 */
		d_step {
			do
			:: f < t && ST(ring[IDX(f)]) >= COMMITTED ->
				/* Below the tail every lap is ours; anything
				 * else is -EBADMSG and wedges the frontier. */
				assert(LAPW(ring[IDX(f)]) == LAP(f));
				f = f + SPANOF(ring[IDX(f)]);
				assert(f <= t)
			:: else ->
				break
			od
		}
		if
		:: f == t -> break
		:: else
		fi;
		/* repair_stall(f): the word again, after the scan stopped at
		 * it. Its owner may have finished meanwhile: scan on. */
		w = ring[IDX(f)];
		if
		:: DONE_AT(w, f) ->
			skip			/* STALL_MOVED */
		:: else ->
			if
			:: to = 0
			:: !final && timeouts < MAXTMO ->
				timeouts++;
				to = 1			/* claim_timeout expired */
			fi;
			if
			:: w == 0 ->
				/* The producer died (or stalls) between P1 and
				 * P2: intent_alive(). */
				if
				:: !to && ((claim_pos[0] == f && !dead[0]) ||
					   (claim_pos[1] == f && !dead[1])) ->
					break		/* STALL_WAIT: a live owner */
				:: else
				fi;
				pos = f;
				do			/* M5: zero words -> SKIPPED(1) */
				:: pos < tail ->
					d_step {
						if
						:: ring[IDX(pos)] == 0 ->
							ring[IDX(pos)] = MK(SKIPPED, LAP(pos), 0, 1);
							boundary[pos + 1] = 1;
							pos++
						:: else ->
							ok = 1
						fi
					};
					if
					:: ok -> ok = 0; break
					:: else
					fi
				:: else ->
					break
				od
				/* STALL_REPAIRED, or STALL_MOVED if a header
				 * came first: scan on either way. */
			:: else ->
				/* Anything but a CLAIMED word of this lap is
				 * -EBADMSG: its span is unknown, the ring is
				 * wedged. */
				assert(ST(w) == CLAIMED && LAPW(w) == LAP(f));
				if
				:: !to && !dead[SLOT(w)] -> break	/* STALL_WAIT */
				:: else
				fi;
				d_step {		/* M4: CLAIMED -> SKIPPED(span) */
					if
					:: ring[IDX(f)] == w ->
						ring[IDX(f)] = MK(SKIPPED, LAP(f), SLOT(w), LEN(w))
					:: else ->
						skip	/* STALL_MOVED: committed first */
					fi
				}
			fi
		fi;
		rounds++
	od;
	frontier = f;

	/* gate_of(): nothing at or above the gate is reused. G3: the slot's
	 * owner, then its position. */
	gate = f;
	if
	:: g_owner ->
		d_step {
			pos = g_pos;
			if
			:: pos < gate -> gate = pos
			:: else
			fi
		}
	:: else
	fi;
	/* late_writer_gate() (M7): a live producer's claim below the frontier
	 * (repaired while it may still write) or a stale intent. */
	d_step {
		pos = claim_pos[0];
		if
		:: pos < gate && !dead[0] -> gate = pos
		:: else
		fi
	}
	d_step {
		pos = claim_pos[1];
		if
		:: pos < gate && !dead[1] -> gate = pos
		:: else
		fi
	}

	/* clean_and_raise() */
	l = limit;				/* holder-only */
	t = tail;				/* M1 */
	if
	:: l >= t + MAXCLAIM ->
		skip				/* room enough: keep history */
	:: else ->
		/*
		 * The reuse target: the code takes half a ring behind the tail
		 * (never past the gate), which lies anywhere relative to the
		 * records, since their sizes vary; here any position from the
		 * gate down to just above what is already reused.
		 */
		target = gate;
		do
		:: target > oldest + 1 && target > l - CAP + 1 -> target--
		:: break
		od;
		skip;
		/* record_boundary_below(): walk from `oldest` (a boundary)
		 * over final headers to the last boundary <= target. */
		d_step {
			/* One step, as the scan: these words are final. */
			pos = oldest;
			do
			:: pos < target && DONE_AT(ring[IDX(pos)], pos) &&
			   pos + SPANOF(ring[IDX(pos)]) <= target ->
				pos = pos + SPANOF(ring[IDX(pos)])
			:: else ->
				break
			od;
			gate = pos
		}
		if
		:: gate > l - CAP ->
			/* M2: announce before reuse. (d): a record boundary. */
			d_step {
				assert(gate < MAXPOS && boundary[gate]);
				oldest = gate
			};
			MAYDIE_M;		/* maintain.mid_clean, before any zero */
			/* Re-read the gating slot after the announcement: a
			 * reader that registered in between is seen here, or it
			 * saw the announcement and moved up (store-then-load on
			 * both sides, G1). */
			if
			:: g_owner ->
				d_step {
					pos = g_pos;
					if
					:: pos < gate -> gate = pos
					:: else
					fi
				}
			:: else
			fi;
			pos = l - CAP;
			do			/* zero [limit - CAP, gate) */
			:: pos < gate ->
				d_step {
					/* (c): nothing the gating reader still
					 * needs, nothing a live writer may
					 * still write into, is reused. */
					assert(!g_registered || pos < g_pos);
					assert(!writing[0] || dead[0] || pos < claim_pos[0]);
					assert(!writing[1] || dead[1] || pos < claim_pos[1]);
					ring[IDX(pos)] = 0;
					pos++
				};
				MAYDIE_M		/* maintain.mid_clean */
			:: else ->
				break
			od;
			if
			:: gate > l - CAP ->
				limit = gate + CAP	/* M3 */
			:: else
			fi
		:: else
		fi
	fi;

pass_end:
	skip;
	d_step {
		gate = 0;
		target = 0;
		pos = 0;
		t = 0;
		l = 0;
		w = 0;
		f = 0;
		to = 0;
		ok = 0
	}
	if
	:: !final -> goto pass_start
	:: else
	fi;
	/* (e) progress: every producer has finished or died; one pass, with
	 * no timeout, passes every claim. */
	assert(frontier == tail);
	maint_done = 1
}

/* ---- readers ---- */

#if GATING_READER
active proctype gating_reader()
{
	byte pos, o, k, s, mask;
	short w, v;
	byte nseq[NPROD];

#if LATE_REGISTER
	/* ring_reader_open(EARLIEST, GATING): gate_register(). */
	pos = oldest;
	g_owner = 1;				/* R1: the slot is ours */
	do
	:: k < 3 ->
		g_pos = pos;			/* G1: store our position ... */
		d_step {			/* ... then load oldest */
			o = oldest;
			if
			:: o <= pos ->
				g_registered = 1;
				g_from = pos
			:: else
			fi
		}
		if
		:: g_registered -> break
		:: else -> pos = o; k++
		fi
	:: else ->
		goto out			/* -EAGAIN: give up */
	od;
#endif
	do
	:: pos >= limit ->			/* C3: may be being zeroed */
		if
		:: maint_done && pos == tail -> break
		:: pos < limit
		fi
	:: pos < limit ->
		/*
		 * C1, then the view in place. One step: a record behind a
		 * gating reader's position does not change while it reads it,
		 * and if the protocol let it, the maintainer's zeroing (and a
		 * producer's write) assert (c) against our position anyway.
		 */
		d_step {
			w = ring[IDX(pos)];
			if
			:: DONE_AT(w, pos) && ST(w) == COMMITTED ->
				v = ring[IDX(pos + 1)];
				check_record(w, v, pos);
				pos = pos + SPANOF(w)
			:: DONE_AT(w, pos) && ST(w) == SKIPPED ->
				pos = pos + SPANOF(w)
			:: else
			fi;
			v = 0
		}
		if
		:: pos != g_pos ->
			g_pos = pos		/* G2: done with it */
		:: else ->
			if
			:: ring[IDX(pos)] != w	/* wait for a change */
			:: maint_done && pos == tail -> break
			fi
		fi
	od;
	/* (e) no loss: every record committed at or after our start was seen. */
	k = 0;
	do
	:: k < NPROD * NREC ->
		assert(committed_at[k] == NONE || committed_at[k] < g_from ||
		       (mask & (1 << k)));
		k++
	:: else ->
		break
	od;
out:
	skip;
	d_step {
		g_registered = 0;
		g_owner = 0			/* R2; the position stays, stale */
	}
}
#endif

#if ORDINARY_READER
active proctype ordinary_reader()
{
	byte pos, o, s, mask;
	short w, v;
	byte nseq[NPROD];

	pos = oldest;				/* EARLIEST */
	do
	:: pos >= limit ->			/* C3: may be being zeroed */
		if
		:: maint_done && pos == tail -> break
		:: pos < limit
		fi
	:: pos < limit ->
		w = ring[IDX(pos)];		/* C1 */
		if
		:: DONE_AT(w, pos) && ST(w) == COMMITTED ->
			v = ring[IDX(pos + 1)];	/* the copy */
			o = oldest;		/* C2: validate after the copy */
			if
			:: o > pos ->
				pos = o		/* -EOVERFLOW: the copy may be torn */
			:: else ->
				d_step {
					check_record(w, v, pos);
					pos = pos + SPANOF(w)
				}
			fi
		:: DONE_AT(w, pos) && ST(w) == SKIPPED ->
			pos = pos + SPANOF(w)
		:: else ->
			o = oldest;
			if
			:: o > pos ->
				pos = o		/* overtaken: -EOVERFLOW */
			:: else ->
				if
				:: ring[IDX(pos)] != w
				:: oldest > pos
				:: maint_done && pos == tail -> break
				fi
			fi
		fi
	od
}
#endif

init
{
	d_step {
		boundary[0] = 1;
#if !LATE_REGISTER
		g_owner = 1;
		g_pos = 0;
		g_registered = 1;
		g_from = 0;
#endif
		skip
	}
	atomic {
		run producer(0);
		run producer(1)
	}
}

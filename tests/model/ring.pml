/* SPDX-License-Identifier: MIT */
/*
 * ring.pml - a Promela model of the ring protocol (docs/design/ring-protocol.md),
 * checked with spin. tests/model/check.sh runs it; see that script for the
 * configurations and docs/design/ring-protocol.md, "The model", for what
 * each assertion means.
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
 * libring/atomics.h give the interleavings assumed here is argued in
 * docs/design/memory-ordering.md.
 *
 * Processes:
 *   producer(0), producer(1)  claim, write, commit NREC records each; either
 *                             may die at any step (killer) or stall for ever
 *                             (no fairness is assumed, and the maintainer may
 *                             declare any live claim timed out at any time)
 *   gating_reader             reads every record in place and holds reuse back
 *   ordinary_reader           copies and validates; never holds anyone back
 *   maintainer                frontier scan, repairs, gate, cleaning, limit;
 *                             may die in the middle of a pass, after which the
 *                             next pass (the next lease holder) starts afresh
 *                             from what is in shared memory
 *
 * Build-time switches (spin -DNAME=value, or check.sh):
 *   CAP, NREC                 ring words, records per producer
 *   LATE_REGISTER             the gating reader registers while everything
 *                             runs (1) or exists from creation (0)
 *   ORDINARY_READER           include the copying reader
 *   LATE_WRITER_GATE          the gate also waits for live producers' open
 *                             claims (1), so a repaired but live producer
 *                             never writes into reused space; 0 is the
 *                             protocol without it, which spin refutes
 *   ANNOUNCE_FIRST            the maintainer announces `oldest` and then
 *                             re-reads the gating slots (1); 0 reads the
 *                             slots and then announces, which spin refutes
 */

#ifndef CAP
#define CAP 8
#endif
#ifndef NREC
#define NREC 2
#endif
#ifndef LATE_REGISTER
#define LATE_REGISTER 1
#endif
#ifndef ORDINARY_READER
#define ORDINARY_READER 1
#endif
#ifndef LATE_WRITER_GATE
#define LATE_WRITER_GATE 1
#endif
#ifndef ANNOUNCE_FIRST
#define ANNOUNCE_FIRST 1
#endif

#define NPROD 2
#define SPAN 2			/* header word + payload word */
#define MAXATT 2		/* header CAS attempts per record (the code: 64) */
#define NONE 255		/* RING_POS_NONE */
#define ROUNDS 4		/* repairs per pass (the code: MAX_ROUNDS 8) */

/* Header word: state:2 lap:2 slot:1 len:3, as layout.h's bit fields. */
#define EMPTY 0
#define CLAIMED 1
#define COMMITTED 2
#define SKIPPED 3
#define ST(w) ((w) >> 6)
#define LAPW(w) (((w) >> 4) & 3)
#define SLOT(w) (((w) >> 3) & 1)
#define LEN(w) ((w) & 7)
#define MK(s, l, sl, n) (((s) << 6) | ((l) << 4) | ((sl) << 3) | (n))
#define LAP(p) (((p) / CAP) & 3)
#define IDX(p) ((p) % CAP)
/* CLAIMED and SKIPPED carry the span; COMMITTED carries the payload length. */
#define SPANOF(w) (ST(w) == COMMITTED -> 1 + LEN(w) : LEN(w))
/*
 * The payload word of record s of producer p: non-zero, different for every
 * record, and with state bits 0, so that a payload read where a header was
 * expected is garbage and never a plausible header.
 */
#define PAYLOAD(p, s) (1 + (p) * 4 + (s))

/* ---- shared memory ---- */

byte ring[CAP];			/* the data area; all zero at creation */
byte tail;			/* next position to claim (P1) */
byte limit = CAP;		/* claims end at or below it (P0 / M3) */
byte oldest;			/* announced start of reuse (M2 / C2) */
byte frontier;			/* maintainer's own: all below is done */
byte claim_pos[NPROD] = NONE;	/* producer slots' intents */
bool g_owner;			/* the gating reader's slot */
#if ANNOUNCE_FIRST
byte g_pos = NONE;		/* a free slot holds no position */
#else
byte g_pos;			/* as created: 0, and stale after a close */
#endif

/* ---- liveness, as the maintainer's /proc check sees it ---- */

bool dead[NPROD];
bool maint_kill;

/* ---- ghosts: bookkeeping for the assertions, invisible to the protocol ---- */

byte ended;			/* producers that finished or died */
bool maint_done;		/* the final maintenance pass is over */
byte committed_at[NPROD * NREC] = NONE;	/* where record (p, s) was committed */
bool g_registered;		/* the gating reader's registration succeeded */
byte g_from;			/* and the position it registered at */
byte zeroed_hi;			/* every position below was zeroed for reuse */

/*
 * A delivered record (header w at position pos, payload word v) must be
 * exactly a record its producer committed there, whole, and later in that
 * producer's sequence than anything this reader delivered before: (a), (b).
 */
inline check_record(w, v, pos)
{
	atomic {
		s = v - 1 - SLOT(w) * 4;
		assert(v >= 1 && s < NREC);		/* payload fully written, not torn */
		assert(committed_at[SLOT(w) * NREC + s] == pos);	/* committed here */
		assert(s >= nseq[SLOT(w)]);		/* in order, no duplicate */
		nseq[SLOT(w)] = s + 1;
		mask = mask | (1 << (SLOT(w) * NREC + s));
		s = 0
	}
}

/* ---- producer ---- */

proctype producer(byte p)
{
	byte s, t, att;
	bool ok;

	{
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
			claim_pos[p] = t;		/* the intent, before P1 */
			d_step {			/* P1: CAS tail t -> t + SPAN */
				if
				:: tail == t ->
					tail = t + SPAN;
					ok = 1;
					/* (c): the previous lap's bytes we now own
					 * were read by the gating reader. */
					assert(!g_registered || t + SPAN <= g_pos + CAP)
				:: else ->
					ok = 0
				fi
			}
			if
			:: !ok -> goto retry
			:: else
			fi;
			d_step {			/* P2: CAS header 0 -> CLAIMED */
				if
				:: ring[IDX(t)] == 0 ->
					ring[IDX(t)] = MK(CLAIMED, LAP(t), p, SPAN);
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
			d_step {			/* payload, timestamp, type */
				/* Only this claim writes here, and the ring
				 * ahead of the tail is zero. */
				assert(ring[IDX(t + 1)] == 0);
				ring[IDX(t + 1)] = PAYLOAD(p, s)
			}
			d_step {			/* P3: CAS CLAIMED -> COMMITTED */
				if
				:: ring[IDX(t)] == MK(CLAIMED, LAP(t), p, SPAN) ->
					ring[IDX(t)] = MK(COMMITTED, LAP(t), p, 1);
					committed_at[p * NREC + s] = t
				:: else ->
					skip		/* repaired: -ETIMEDOUT */
				fi
			}
			claim_pos[p] = NONE;		/* claim_close */
next:
			s++
		:: else ->
			break
		od
	} unless {
		dead[p]
	};
	ended++
}

/* At most one producer dies, at any step of its life. */
active proctype producer_killer()
{
	if
	:: dead[0] = 1
	:: dead[1] = 1
	:: skip
	fi
}

/* The maintainer may die once, in the middle of any pass. */
active proctype maint_killer()
{
	if
	:: maint_kill = 1
	:: skip
	fi
}

/* ---- maintainer ---- */

/*
 * One pass of ring_topic_maintain(): frontier scan with repairs, then gate,
 * cleaning and limit. `final` passes never declare a timeout: after every
 * producer has ended, dead owners alone must be enough to pass every claim.
 */
inline maintain_pass(final)
{
	f = frontier;
	rounds = 0;
	do
	:: rounds >= ROUNDS ->
		break
	:: else ->
		t = tail;				/* M1 */
		do					/* frontier_scan() */
		:: f < t ->
			w = ring[IDX(f)];		/* M1b */
			if
			:: ST(w) >= COMMITTED ->
				/* Below the tail every lap is ours; anything
				 * else is -EBADMSG and wedges the frontier. */
				assert(LAPW(w) == LAP(f));
				f = f + SPANOF(w);
				assert(f <= t)
			:: else ->
				break
			fi
		:: else ->
			break
		od;
		if
		:: f == t -> break
		:: else
		fi;
		/* repair_stall(f) */
		w = ring[IDX(f)];
		if
		:: final -> to = 0
		:: !final -> to = 0
		:: !final -> to = 1			/* claim_timeout expired */
		fi;
		if
		:: w == 0 ->
			/* The producer died (or stalls) between P1 and P2. */
			if
			:: !to && ((claim_pos[0] == f && !dead[0]) ||
				   (claim_pos[1] == f && !dead[1])) ->
				break			/* a live owner: wait */
			:: else
			fi;
			pos = f;
			do				/* M5: zero words -> SKIPPED(1) */
			:: pos < tail ->
				d_step {
					if
					:: ring[IDX(pos)] == 0 ->
						ring[IDX(pos)] = MK(SKIPPED, LAP(pos), 0, 1);
						pos++
					:: else ->
						ok = 1
					fi
				}
				if
				:: ok -> ok = 0; break
				:: else
				fi
			:: else ->
				break
			od;
			if
			:: pos == f -> break		/* a header came first */
			:: else
			fi
		:: else ->
			/* Anything but a CLAIMED word of this lap is -EBADMSG:
			 * its span is unknown, the ring is wedged. */
			assert(ST(w) == CLAIMED && LAPW(w) == LAP(f));
			if
			:: !to && !dead[SLOT(w)] -> break	/* live, in time */
			:: else
			fi;
			d_step {			/* M4: CLAIMED -> SKIPPED(span) */
				if
				:: ring[IDX(f)] == w ->
					ring[IDX(f)] = MK(SKIPPED, LAP(f), SLOT(w), LEN(w))
				:: else ->
					ok = 1		/* committed first */
				fi
			}
			if
			:: ok -> ok = 0; break
			:: else
			fi
		fi;
		rounds++
	od;
	frontier = f;

	/* gate_of(): nothing at or above the gate is reused. */
	gate = f;
#if LATE_WRITER_GATE
	/* A live producer's open claim below the frontier was repaired while
	 * its owner may still be writing into it. */
	if
	:: !dead[0] && claim_pos[0] < gate -> gate = claim_pos[0]
	:: else
	fi;
	if
	:: !dead[1] && claim_pos[1] < gate -> gate = claim_pos[1]
	:: else
	fi;
#endif
#if ANNOUNCE_FIRST
	pos = g_pos;				/* a free slot holds NONE */
	if
	:: pos < gate -> gate = pos
	:: else
	fi;
#else
	if
	:: g_owner ->				/* G1: owner, then position */
		pos = g_pos;
		if
		:: pos < gate -> gate = pos
		:: else
		fi
	:: else
	fi;
#endif
	/* clean_and_raise() */
	pos = limit - CAP;			/* everything below is zeroed */
	if
	:: gate > pos ->
		oldest = gate;			/* M2: announce before reuse */
#if ANNOUNCE_FIRST
		/* Re-read the gating slot after the announcement: a reader
		 * that registered in between is seen here, or it saw the
		 * announcement and moved up (store-then-load on both sides). */
		t = g_pos;
		if
		:: t < gate -> gate = t
		:: else
		fi;
#endif
		do				/* zero [limit - CAP, gate) */
		:: pos < gate ->
			d_step {
				/* (c): nothing the gating reader still
				 * needs is reused. */
				assert(!g_registered || pos < g_pos);
				ring[IDX(pos)] = 0;
				pos++;
				if
				:: pos > zeroed_hi -> zeroed_hi = pos
				:: else
				fi
			}
		:: else ->
			break
		od;
		if
		:: gate + CAP > limit ->
			limit = gate + CAP	/* M3 */
		:: else
		fi
	:: else
	fi;
	gate = 0;
	pos = 0;
	t = 0;
	w = 0;
	f = 0
}

active proctype maintainer()
{
	byte f, t, w, pos, gate, rounds;
	bool to, ok;

	do
	:: ended < NPROD ->
		{
			maintain_pass(0)
		} unless {
			/* Died mid-pass: the next holder starts afresh. */
			atomic { maint_kill -> maint_kill = 0; ok = 0; to = 0 }
		}
	:: ended == NPROD ->
		break
	od;
	/* (d) progress: every producer has finished or died; one pass, with
	 * no timeout, passes every claim. */
	maintain_pass(1);
	assert(frontier == tail);
	maint_done = 1
}

/* ---- readers ---- */

active proctype gating_reader()
{
	byte pos, w, v, o, k, s, mask;
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
				/* Nothing at or above pos was reused, and
				 * nothing will be until we move on. */
				assert(zeroed_hi <= pos);
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
	:: w = ring[IDX(pos)];			/* C1 */
		if
		:: LAPW(w) == LAP(pos) && ST(w) == COMMITTED ->
			v = ring[IDX(pos + 1)];	/* the view, in place */
			check_record(w, v, pos);
			/* (c): the view does not change while it is used. */
			assert(ring[IDX(pos)] == w && ring[IDX(pos + 1)] == v);
			pos = pos + SPANOF(w);
			g_pos = pos			/* G2: done with it */
		:: LAPW(w) == LAP(pos) && ST(w) == SKIPPED ->
			pos = pos + SPANOF(w);
			g_pos = pos
		:: else ->
			if
			:: maint_done && pos == tail -> break
			:: ring[IDX(pos)] != w		/* wait for a change */
			fi
		fi
	od;
	/* No loss: every record committed at or after our start was seen. */
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
#if ANNOUNCE_FIRST
		g_pos = NONE;
#endif
		g_owner = 0
	}
}

#if ORDINARY_READER
active proctype ordinary_reader()
{
	byte pos, w, v, o, s, mask;
	byte nseq[NPROD];

	pos = oldest;				/* EARLIEST */
	do
	:: w = ring[IDX(pos)];			/* C1 */
		if
		:: LAPW(w) == LAP(pos) && ST(w) == COMMITTED ->
			v = ring[IDX(pos + 1)];	/* the copy */
			o = oldest;		/* C2: validate after the copy */
			if
			:: o > pos ->
				pos = o		/* -EOVERFLOW: the copy may be torn */
			:: else ->
				check_record(w, v, pos);
				pos = pos + SPANOF(w)
			fi
		:: LAPW(w) == LAP(pos) && ST(w) == SKIPPED ->
			pos = pos + SPANOF(w)
		:: else ->
			o = oldest;
			if
			:: o > pos ->
				pos = o		/* overtaken: -EOVERFLOW */
			:: else ->
				if
				:: maint_done && pos == tail -> break
				:: ring[IDX(pos)] != w
				:: oldest > pos
				fi
			fi
		fi
	od
}
#endif

init
{
#if !LATE_REGISTER
	d_step {
		g_owner = 1;
		g_pos = 0;
		g_registered = 1;
		g_from = 0
	}
#endif
	atomic {
		run producer(0);
		run producer(1)
	}
}

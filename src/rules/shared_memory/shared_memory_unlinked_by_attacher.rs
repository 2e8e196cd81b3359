//! MP302 `shared-memory-unlinked-by-attacher`: a process that attached to a segment (or
//! was given it) unlinks it while its creator unlinks it too.

use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants, delete_statement_fix};
use crate::semantic::mp::Managed;
use crate::semantic::objects::MethodCall;
use crate::semantic::segments::{self, Opening, Segment};

pub struct SharedMemoryUnlinkedByAttacher;

impl Rule for SharedMemoryUnlinkedByAttacher {
    fn code(&self) -> RuleCode {
        RuleCode::MP302
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    /// A segment is made by calling one of these classes, or a manager's method of that
    /// name.
    fn words(&self) -> &'static [&'static str] {
        &["SharedMemory", "ShareableList"]
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let all = segments::find(cx.model);
        if all.is_empty() {
            return;
        }
        let unlinks: Vec<MethodCall<'_>> = cx
            .objects
            .every_method_call()
            .iter()
            .filter(|mc| segments::is_unlink(mc))
            .copied()
            .collect();
        for mc in &unlinks {
            if let Some((creator, how)) = creator_that_also_unlinks(cx, &all, &unlinks, mc) {
                report(cx, mc, &creator, how);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum How {
    /// Attached by the creator's name.
    Attached,
    /// Given the object itself, in a child process.
    Given,
}

fn creator_that_also_unlinks<'a>(
    cx: &Checker<'_, 'a>,
    all: &[Segment<'a>],
    unlinks: &[MethodCall<'a>],
    mc: &MethodCall<'a>,
) -> Option<(Segment<'a>, How)> {
    let objects = cx.objects;
    let object = segments::receiver_object(objects, mc)?;
    let sites = segments::sites_of(all, &object);
    let [site] = sites.as_slice() else {
        return None;
    };
    if site.managed != Managed::No {
        return None;
    }
    let (creator, how) = match site.opening {
        Opening::Attach => (segments::creator_of(objects, all, site)?, How::Attached),
        // The object itself reached a child process (pickled by name: the child
        // attaches), and the child unlinks it.
        Opening::Create
            if segments::runs_in_child(objects, mc.scope)
                && !segments::runs_in_child(objects, site.scope) =>
        {
            (*site, How::Given)
        }
        _ => return None,
    };
    let creator_object = creator.tracked();
    let also = unlinks.iter().any(|other| {
        !std::ptr::eq(other.expr, mc.expr)
            && !segments::runs_in_child(objects, other.scope)
            && segments::is_on(objects, &creator_object, other)
    });
    also.then_some((creator, how))
}

fn report<'a>(cx: &mut Checker<'_, 'a>, mc: &MethodCall<'a>, creator: &Segment<'a>, how: How) {
    let holder = cx.text(mc.receiver.range).to_string();
    let line = cx.line_of(creator.expr.range.start);
    let whose = match how {
        How::Attached => {
            format!("`{holder}` is attached by name to the segment created at line {line}")
        }
        How::Given => format!(
            "`{holder}` is the segment created at line {line}, which this child process got by \
             name"
        ),
    };
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP302),
        mc.expr.range,
        format!(
            "{whose}, and its creator unlinks it too: whichever `unlink()` runs second raises \
             `FileNotFoundError: [Errno 2] No such file or directory: '/psm_...'`"
        ),
        "a second owner unlinks here",
    )
    .with_annotation(creator.expr.range, "created, and unlinked by its creator")
    .with_help(
        "`unlink()` must be called once, across all processes, by the segment's owner. \
         Let the creator unlink it after every user is done (after `join()`), and have \
         the other processes only `close()` their view.",
    );
    let fix = delete_statement_fix(cx, mc.expr, "Remove the second owner's `unlink()`");
    if fix.is_none() {
        d = d.with_no_fix("the `unlink()` is not a statement of its own: remove it by hand");
    }
    cx.report(d.with_fix(fix));
}

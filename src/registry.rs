//! The rule of each code: the one place that maps [`RuleCode`]s onto the rule values in
//! [`crate::rules`]. Imports point one way: the linter asks here, the rules know only
//! their codes.

use crate::codes::{RuleCode, rule_table};
use crate::rules::{self, Rule};

macro_rules! define_rules {
    ($($code:ident => $module:ident :: $ty:ident),* $(,)?) => {
        /// The implementation of a rule.
        pub fn rule(code: RuleCode) -> &'static dyn Rule {
            match code {
                $(RuleCode::$code => &rules::$module::$ty),*
            }
        }
    };
}

rule_table!(define_rules);

package io.razorstream.store;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/** No package cycles in the store (each package a slice, the root included), and its benchmark sits on top of it. */
class ArchitectureTest {
    static final JavaClasses STORE = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.razorstream.store");

    @Test
    void noPackageCycles() {
        slices().matching("io.razorstream.(**)").should().beFreeOfCycles().check(STORE);
    }

    @Test
    void theStoreDependsOnNoBenchmarkOrEngineTool() {
        noClasses()
                .that()
                .resideOutsideOfPackage("io.razorstream.store.bench..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "io.razorstream.store.bench..", "io.razorstream.engine.bench..", "io.razorstream.engine.cli..")
                .check(STORE);
    }
}
